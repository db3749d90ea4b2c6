//! Acting inside a named network namespace (`--netns NAME`, as `ip netns` names them).
//!
//! `setns(2)` moves only the calling thread, so [`Namespace::enter`] must run before the process starts any
//! thread; the binary calls it first thing. After it, `/proc/sys/net` shows the namespace's values.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

use crate::error::{Error, Result};

/// Where `ip netns add NAME` bind-mounts a namespace.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The network namespace this process has entered, and the one it came from (to look at host keys).
#[derive(Debug)]
pub struct Namespace {
    name: String,
    entered: File,
    original: File,
}

impl Namespace {
    /// Enters `/run/netns/NAME`. Call before any thread exists: threads started earlier stay outside.
    pub fn enter(name: &str) -> Result<Namespace> {
        let fail = |message: String| Error::Netns {
            name: name.to_string(),
            message,
        };
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(fail(
                "not a namespace name (as `ip netns list` prints them)".into(),
            ));
        }
        let path: PathBuf = Path::new(NETNS_RUN_DIR).join(name);
        let entered = File::open(&path).map_err(|e| {
            fail(format!(
                "cannot open {}: {e}; `ip netns list` shows the namespaces that exist",
                path.display()
            ))
        })?;
        let original = File::open("/proc/self/ns/net")
            .map_err(|e| fail(format!("cannot open /proc/self/ns/net: {e}")))?;
        setns(&entered, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
            nix::errno::Errno::EPERM => fail("setns: permission denied: run as root".into()),
            e => fail(format!("setns: {e}")),
        })?;
        tracing::debug!(namespace = name, "entered network namespace");
        Ok(Namespace {
            name: name.to_string(),
            entered,
            original,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` back in the namespace the process started in, then returns to this one.
    pub fn outside<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let fail = |what: &str, e: nix::errno::Errno| Error::Netns {
            name: self.name.clone(),
            message: format!("{what}: {e}"),
        };
        setns(&self.original, CloneFlags::CLONE_NEWNET)
            .map_err(|e| fail("returning to the initial namespace", e))?;
        let out = f();
        setns(&self.entered, CloneFlags::CLONE_NEWNET)
            .map_err(|e| fail("re-entering the namespace", e))?;
        Ok(out)
    }
}
