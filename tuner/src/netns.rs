//! Acting inside a named network namespace (`--netns NAME`, as `ip netns` names them), and making
//! throwaway ones ([`OwnedNamespace`]).
//!
//! `setns(2)` moves only the calling thread, so [`Namespace::enter`] must run before the process starts any
//! thread; the binary calls it first thing. After it, `/proc/sys/net` shows the namespace's values.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

use crate::error::{Error, Result};

/// Where `ip netns add NAME` bind-mounts a namespace.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The network namespace this process acts in, and the host's (to look at host keys).
#[derive(Debug)]
pub struct Namespace {
    /// As `ip netns` names it, or the kernel's `net:[INODE]` for an inherited one.
    name: String,
    /// Entered with `--netns NAME` (rather than inherited from the parent process).
    named: bool,
    entered: File,
    /// The host's namespace, when this process may open it.
    original: Option<File>,
}

impl Namespace {
    /// Enters `/run/netns/NAME`. Call before any thread exists: threads started earlier stay outside.
    pub fn enter(name: &str) -> Result<Namespace> {
        let fail = |message: String| Error::Netns {
            name: name.to_string(),
            message,
        };
        check_name(name)?;
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
            named: true,
            entered,
            original: Some(original),
        })
    }

    /// The namespace this process was started in, when it is not the host's: run by `ip netns exec`, or by
    /// a shell reached through an sshd inside a namespace. Host-global keys must not be written from there
    /// either. `None` in the host's namespace.
    pub fn inherited() -> Option<Namespace> {
        use std::os::unix::fs::MetadataExt;
        let name = std::fs::read_link("/proc/self/ns/net")
            .ok()?
            .to_string_lossy()
            .into_owned();
        let entered = File::open("/proc/self/ns/net").ok()?;
        let own = entered.metadata().ok()?;
        let original = match File::open("/proc/1/ns/net") {
            Ok(init) => {
                let init_meta = init.metadata().ok()?;
                if (own.dev(), own.ino()) == (init_meta.dev(), init_meta.ino()) {
                    return None;
                }
                Some(init)
            }
            // PID 1's namespace is closed to us (not root, or root of a nested user namespace). Only the
            // initial namespace shows net.core.netdev_max_backlog, a global sysctl the kernel registers for
            // it alone, while every namespace has net.core.somaxconn.
            Err(_) => {
                let core = Path::new("/proc/sys/net/core");
                if !core.join("somaxconn").exists() || core.join("netdev_max_backlog").exists() {
                    return None;
                }
                None
            }
        };
        tracing::debug!(namespace = %name, "running inside a network namespace other than the host's");
        Some(Namespace {
            name,
            named: false,
            entered,
            original,
        })
    }

    /// True when entered with `--netns NAME`; false when inherited.
    pub fn is_named(&self) -> bool {
        self.named
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` back in the host's namespace (the one `--netns` left), then returns to this one. `None` when
    /// the host's namespace cannot be reached (an inherited namespace without access to PID 1's).
    pub fn outside<T>(&self, f: impl FnOnce() -> T) -> Result<Option<T>> {
        let Some(original) = &self.original else {
            return Ok(None);
        };
        let fail = |what: &str, e: nix::errno::Errno| Error::Netns {
            name: self.name.clone(),
            message: format!("{what}: {e}"),
        };
        setns(original, CloneFlags::CLONE_NEWNET)
            .map_err(|e| fail("returning to the host's namespace", e))?;
        let out = f();
        setns(&self.entered, CloneFlags::CLONE_NEWNET)
            .map_err(|e| fail("re-entering the namespace", e))?;
        Ok(Some(out))
    }
}

/// A network namespace this process created (`ip netns add`), with its loopback up; deleted (`ip netns
/// delete`) by [`OwnedNamespace::delete`] or, failing that, on drop — on success, error and unwinding alike.
///
/// The one way pincore makes a throwaway namespace: pincore-bench's tuned benchmark and the test kit both
/// use it. It changes nothing outside the new namespace.
#[derive(Debug)]
pub struct OwnedNamespace {
    name: String,
    /// Cleared once `delete` ran, so drop does not delete a second time.
    owned: bool,
}

impl OwnedNamespace {
    /// Creates `/run/netns/NAME` and brings its loopback up. If the loopback cannot be brought up, the
    /// namespace is deleted again before the error is returned.
    pub fn create(name: &str) -> Result<OwnedNamespace> {
        check_name(name)?;
        ip(name, &["netns", "add", name])?;
        let ns = OwnedNamespace {
            name: name.to_string(),
            owned: true,
        };
        ip(name, &["-n", name, "link", "set", "lo", "up"])?;
        tracing::debug!(namespace = name, "created network namespace");
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` and `--netns` take it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes the namespace now, saying why when it cannot (drop would only log it).
    pub fn delete(mut self) -> Result<()> {
        self.owned = false;
        ip(&self.name, &["netns", "delete", &self.name])
    }
}

impl Drop for OwnedNamespace {
    fn drop(&mut self) {
        if self.owned {
            if let Err(e) = ip(&self.name, &["netns", "delete", &self.name]) {
                tracing::warn!(namespace = %self.name, error = %e, "could not delete network namespace; remove it with `ip netns delete`");
            }
        }
    }
}

/// Refuses a name that is not one `/run/netns/NAME` file: empty, `.`, `..` or containing `/`.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::Netns {
            name: name.to_string(),
            message: "not a namespace name (as `ip netns list` prints them)".into(),
        });
    }
    Ok(())
}

/// Runs `ip ARGS` for namespace `name`; a failure carries `ip`'s own words.
fn ip(name: &str, args: &[&str]) -> Result<()> {
    let fail = |message: String| Error::Netns {
        name: name.to_string(),
        message,
    };
    let out = std::process::Command::new("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run `ip` (install iproute2): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
