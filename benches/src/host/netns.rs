//! A throwaway network namespace for the tuned benchmark: created with loopback up, deleted when dropped
//! (on success, failure and Ctrl-C alike).

use std::process::{Command, Stdio};

use crate::error::{BenchError, Result};

/// A network namespace this process created; `ip netns delete` runs on drop.
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates `/run/netns/NAME` and brings its loopback up.
    pub fn create(name: &str) -> Result<Namespace> {
        ip(&["netns", "add", name])?;
        let ns = Namespace {
            name: name.to_string(),
        };
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        tracing::info!(namespace = name, "created network namespace");
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        match ip(&["netns", "delete", &self.name]) {
            Ok(()) => tracing::info!(namespace = %self.name, "deleted network namespace"),
            Err(e) => eprintln!(
                "pincore-bench: could not delete network namespace {}: {e}; remove it with `ip netns delete {}`",
                self.name, self.name
            ),
        }
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::io("running `ip` (install iproute2)", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Process {
            program: format!("ip {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// True when this process runs as root (network namespaces need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
