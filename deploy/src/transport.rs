//! How commands reach a host: the system OpenSSH client, or the local machine.
//!
//! Everything a deploy does on a host is a POSIX shell script run through [`Transport::run`], with optional
//! bytes on its standard input (that is also how files are uploaded). Keeping the interface this narrow lets the
//! rollout logic run against a scripted fake in unit tests and against real hosts in production.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::commands;
use crate::error::{Error, Result};
use crate::manifest::{Host, TransportKind};

/// What a script printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Runs shell scripts on one host.
pub trait Transport: Send + Sync {
    /// The host's name, for messages.
    fn host(&self) -> &str;

    /// Runs `script` with `sh -c` on the host, streaming `stdin` to it. An error means the host was not
    /// reached; a script that ran and failed is an `Ok` with a non-zero code.
    fn run_from(&self, script: &str, stdin: &mut (dyn Read + Send)) -> Result<Output>;

    /// [`Transport::run_from`] with bytes in memory.
    fn run(&self, script: &str, mut stdin: &[u8]) -> Result<Output> {
        self.run_from(script, &mut stdin)
    }

    /// Runs `script` and turns a non-zero exit into an error naming `step`.
    fn check(&self, step: &str, script: &str, mut stdin: &[u8]) -> Result<String> {
        self.check_from(step, script, &mut stdin)
    }

    /// [`Transport::check`] streaming `stdin` from a reader.
    fn check_from(
        &self,
        step: &str,
        script: &str,
        stdin: &mut (dyn Read + Send),
    ) -> Result<String> {
        let out = self.run_from(script, stdin)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            let detail = if out.stderr.trim().is_empty() {
                &out.stdout
            } else {
                &out.stderr
            };
            Err(Error::step(
                self.host(),
                step,
                format!("exit {}: {}", out.code, detail.trim()),
            ))
        }
    }

    /// Writes `bytes` to `path` on the host atomically (temp file, then rename), with `mode`.
    fn upload(&self, mut bytes: &[u8], path: &str, mode: u32) -> Result<()> {
        self.upload_from(&mut bytes, path, mode)
    }

    /// [`Transport::upload`] streaming from a reader (a release binary is never held in memory).
    fn upload_from(&self, source: &mut (dyn Read + Send), path: &str, mode: u32) -> Result<()> {
        let script = commands::upload(path, mode);
        self.check_from(&format!("upload {path}"), &script, source)
            .map(drop)
    }
}

/// Opens the transport a host's settings ask for; `control_dir` holds ssh's multiplexing sockets.
pub fn connect(host: &Host, control_dir: &Path) -> Box<dyn Transport> {
    match host.transport {
        TransportKind::Local => Box::new(Local {
            host: host.name.clone(),
        }),
        TransportKind::Ssh => Box::new(Ssh::new(host, control_dir)),
    }
}

fn spawn(
    host: &str,
    mut command: Command,
    stdin: &mut (dyn Read + Send),
) -> Result<std::process::Output> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| Error::Unreachable {
        host: host.to_string(),
        detail: format!("cannot start {:?}: {e}", command.get_program()),
    })?;
    let mut pipe = child.stdin.take();
    // Feed stdin from a thread so a script that prints a lot before reading cannot deadlock us.
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(p) = pipe.as_mut() {
                // A script that exits without reading its input closes the pipe: not an error of ours.
                let _ = std::io::copy(stdin, p);
            }
            drop(pipe);
        });
        child.wait_with_output()
    });
    out.map_err(|e| Error::Unreachable {
        host: host.to_string(),
        detail: format!("waiting for {:?}: {e}", command.get_program()),
    })
}

fn output(out: std::process::Output) -> Output {
    Output {
        // A signal-killed child has no code; report it as the shell would (128 + signal is unknown here).
        code: out.status.code().unwrap_or(128),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The machine the deploy runs on.
pub struct Local {
    host: String,
}

impl Local {
    pub fn new(host: &str) -> Local {
        Local {
            host: host.to_string(),
        }
    }
}

impl Transport for Local {
    fn host(&self) -> &str {
        &self.host
    }

    fn run_from(&self, script: &str, stdin: &mut (dyn Read + Send)) -> Result<Output> {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        spawn(&self.host, command, stdin).map(output)
    }
}

/// The system OpenSSH client, so the user's ssh config, agent, ProxyJump and known_hosts all apply.
///
/// Every command shares one master connection per host (`ControlMaster=auto`, socket in `control_dir`), and
/// `BatchMode=yes` makes a missing key or unknown host key fail at once instead of prompting.
pub struct Ssh {
    host: String,
    args: Vec<String>,
    destination: String,
}

impl Ssh {
    pub fn new(host: &Host, control_dir: &Path) -> Ssh {
        let mut args: Vec<String> = [
            "BatchMode=yes",
            "ControlMaster=auto",
            "ControlPersist=60",
            "ConnectTimeout=10",
            "ServerAliveInterval=5",
            "ServerAliveCountMax=3",
        ]
        .iter()
        .flat_map(|o| ["-o".to_string(), o.to_string()])
        .collect();
        // %C is a hash of the connection, short enough for a socket path.
        args.extend([
            "-o".into(),
            format!("ControlPath={}/%C", control_dir.display()),
        ]);
        if let Some(port) = host.ssh.port {
            args.extend(["-p".into(), port.to_string()]);
        }
        if let Some(user) = &host.ssh.user {
            args.extend(["-l".into(), user.clone()]);
        }
        if let Some(identity) = &host.ssh.identity {
            args.extend([
                "-i".into(),
                identity.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        if let Some(proxy) = &host.ssh.proxy_command {
            args.extend(["-o".into(), format!("ProxyCommand={proxy}")]);
        }
        for option in &host.ssh.options {
            args.extend(["-o".into(), option.clone()]);
        }
        Ssh {
            host: host.name.clone(),
            args,
            destination: host.address.clone(),
        }
    }

    /// Closes the master connection (ssh would otherwise keep it for `ControlPersist`).
    pub fn close(&self) {
        let _ = Command::new("ssh")
            .args(&self.args)
            .args(["-O", "exit", "--", &self.destination])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Transport for Ssh {
    fn host(&self) -> &str {
        &self.host
    }

    fn run_from(&self, script: &str, stdin: &mut (dyn Read + Send)) -> Result<Output> {
        let mut command = Command::new("ssh");
        // ssh joins its arguments into one string for the remote login shell: hand it one quoted `sh -c`.
        command
            .args(&self.args)
            .arg("--")
            .arg(&self.destination)
            .arg(commands::remote(script));
        tracing::debug!(host = %self.host, %script, "ssh");
        let out = output(spawn(&self.host, command, stdin)?);
        if out.code == 255 {
            return Err(Error::Unreachable {
                host: self.host.clone(),
                detail: out.stderr.trim().to_string(),
            });
        }
        Ok(out)
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_runs_scripts_with_stdin_and_reports_exit_codes() {
        let local = Local::new("here");
        let out = local.run("cat; echo err >&2; exit 3", b"input").unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (3, "input", "err\n")
        );
        let err = local
            .check("probe", "echo broken >&2; exit 1", b"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("host here: probe failed: exit 1: broken"),
            "{err}"
        );
    }

    #[test]
    fn upload_writes_atomically_with_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a file");
        let local = Local::new("here");
        local
            .upload(b"#!/bin/sh\n", path.to_str().unwrap(), 0o755)
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"#!/bin/sh\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left behind"
        );
    }
}
