//! A throwaway network namespace for the tuned benchmark: created with loopback up, deleted when dropped
//! (on success, failure and Ctrl-C alike). pincore-tuner's [`OwnedNamespace`] makes and deletes it; this
//! adds the benchmark's own words when deleting fails.

use pincore_tuner::netns::OwnedNamespace;

use crate::error::{BenchError, Result};

/// A network namespace this process created; `ip netns delete` runs on drop.
pub struct Namespace {
    /// Taken by drop, which deletes it and says so on stderr when it cannot.
    inner: Option<OwnedNamespace>,
    name: String,
}

impl Namespace {
    /// Creates `/run/netns/NAME` and brings its loopback up.
    pub fn create(name: &str) -> Result<Namespace> {
        let inner = OwnedNamespace::create(name).map_err(|e| BenchError::Failed {
            what: "creating the benchmark's network namespace".into(),
            message: e.to_string(),
        })?;
        tracing::info!(namespace = name, "created network namespace");
        Ok(Namespace {
            inner: Some(inner),
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        match inner.delete() {
            Ok(()) => tracing::info!(namespace = %self.name, "deleted network namespace"),
            Err(e) => eprintln!(
                "pincore-bench: could not delete network namespace {}: {e}; remove it with `ip netns delete {}`",
                self.name, self.name
            ),
        }
    }
}

/// True when this process runs as root (network namespaces need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `f` on the calling thread inside the network namespace `/run/netns/NAME`, then puts the thread
/// back where it was. A socket keeps the namespace it was created in, so a listener opened in `f` serves
/// the other namespace while the rest of this process stays in its own: one process can hold both ends of
/// a path between two namespaces.
pub fn within<T>(name: &str, f: impl FnOnce() -> T) -> Result<T> {
    use nix::sched::{setns, CloneFlags};
    let fail = |what: String, e: std::io::Error| BenchError::io(what, e);
    let own = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| fail("opening /proc/thread-self/ns/net".into(), e))?;
    let path = std::path::Path::new(pincore_tuner::netns::NETNS_RUN_DIR).join(name);
    let target = std::fs::File::open(&path)
        .map_err(|e| fail(format!("opening network namespace {}", path.display()), e))?;
    setns(&target, CloneFlags::CLONE_NEWNET)
        .map_err(|e| fail(format!("entering network namespace {name}"), e.into()))?;
    let out = f();
    setns(&own, CloneFlags::CLONE_NEWNET)
        .map_err(|e| fail(format!("leaving network namespace {name}"), e.into()))?;
    Ok(out)
}
