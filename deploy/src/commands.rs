//! Every shell command pincore-deploy runs on a host, as text: the release directory, `current`, the tuner, the
//! health probe, the facts script, `deployed.json`, and the scripts of the two service managers.
//!
//! Functions here only build POSIX shell text, with every value from the manifest quoted by [`quote`]. Running
//! it is the [`Transport`](crate::transport::Transport)'s job and deciding when is the rollout's, so this is the
//! one place to read (and test) what a deploy does to a host.

use crate::manifest::Host;

/// Quotes `text` for a POSIX shell.
pub fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The remote command ssh is given: ssh joins its arguments into one string for the login shell, so the script
/// goes as one quoted `sh -c`.
pub fn remote(script: &str) -> String {
    format!("sh -c {}", quote(script))
}

/// Writes standard input to `path` atomically (temp file, then rename), with `mode`.
pub fn upload(path: &str, mode: u32) -> String {
    let q = quote(path);
    format!("set -e; cat > {q}.tmp.$$; chmod {mode:o} {q}.tmp.$$; mv -f {q}.tmp.$$ {q}")
}

/// Writes standard input to `path` atomically with mode 0600 and, when given, `owner` (user and group): the
/// temp file is private from its first byte (umask 077) and has its owner before it takes the name.
pub fn install_secret(path: &str, owner: Option<&str>) -> String {
    let q = quote(path);
    let chown = owner
        .map(|o| format!("chown {}: {q}.tmp.$$; ", quote(o)))
        .unwrap_or_default();
    format!(
        "set -e; umask 077; cat > {q}.tmp.$$; chmod 600 {q}.tmp.$$; {chown}mv -f {q}.tmp.$$ {q}"
    )
}

/// Creates the TLS directory, mode 0700 and, when given, `owner`'s.
pub fn make_tls_dir(dir: &str, owner: Option<&str>) -> String {
    let q = quote(dir);
    let chown = owner
        .map(|o| format!(" && chown {}: {q}", quote(o)))
        .unwrap_or_default();
    format!("mkdir -p {q} && chmod 700 {q}{chown}")
}

/// Prints `NAME SHA256 MODE` for each installed TLS file in `dir` (what [`crate::facts`] reads as `@tls`).
fn installed_tls(dir: &str) -> String {
    let names = [
        crate::manifest::TLS_CERT,
        crate::manifest::TLS_KEY,
        crate::manifest::TLS_CLIENT_CA,
    ]
    .join(" ");
    format!(
        "for f in {names}; do p={dir}/$f; [ -f \"$p\" ] && printf '%s %s %s\\n' \"$f\" \"$(sha256sum < \"$p\" | cut -d' ' -f1)\" \"$(stat -c %a \"$p\")\"; done; true",
        dir = quote(dir)
    )
}

/// Creates the state directory (`deployed.json`, the supervisor's pidfile and log).
pub fn make_state_dir(host: &Host) -> String {
    format!("mkdir -p {}", quote(&host.paths.state))
}

/// The release directory of `id` on `host`, quoted.
pub fn release_dir(host: &Host, id: &str) -> String {
    quote(&format!("{}/releases/{id}", host.paths.install))
}

/// Empties `partial` (where a release is assembled) and hard-links into it each of `binaries` (name, SHA-256)
/// that an earlier release on the host already has; prints the names of those linked.
pub fn prepare_release(host: &Host, partial: &str, binaries: &[(&str, &str)]) -> String {
    let links: String = binaries
        .iter()
        .map(|(name, sum)| {
            format!(
                "src=$(grep -l '^{sum}  {name}$' {install}/releases/*/SHA256SUMS 2>/dev/null | head -n 1) || true
if [ -n \"$src\" ] && ln -f \"$(dirname \"$src\")/{name}\" {p}/{name}; then echo {name}; fi
",
                install = quote(&host.paths.install),
                p = quote(partial),
            )
        })
        .collect();
    format!(
        "set -e\nrm -rf {p}\nmkdir -p {p} {state}\n{links}",
        p = quote(partial),
        state = quote(&host.paths.state)
    )
}

/// Writes `files` (name, content) into `partial`, checks the config with the release's own server binary, and
/// only then marks the release complete and moves it to `dir`.
pub fn complete_release(partial: &str, dir: &str, files: &[(&str, String)]) -> String {
    let p = quote(partial);
    complete_checked(
        partial,
        dir,
        files,
        &format!("{p}/pincore-server check-config {p}/server.yaml\n"),
    )
}

/// Writes `files` into `partial`, runs `check` (which must succeed), and only then marks the release complete
/// and moves it to `dir`.
fn complete_checked(partial: &str, dir: &str, files: &[(&str, String)], check: &str) -> String {
    let writes: String = files
        .iter()
        .map(|(name, text)| format!("printf '%s' {} > {}/{name}\n", quote(text), quote(partial)))
        .collect();
    format!(
        "set -e\n{writes}{check}touch {p}/.complete && rm -rf {d} && mv {p} {d}",
        p = quote(partial),
        d = quote(dir)
    )
}

/// Points `INSTALL/current` at release `id` (a rename, so it is never missing or half-written).
pub fn switch(host: &Host, id: &str) -> String {
    let install = quote(&host.paths.install);
    format!("ln -sfn releases/{id} {install}/.current.new && mv -Tf {install}/.current.new {install}/current")
}

/// Removes `INSTALL/current` (a host reverted to no release at all).
pub fn remove_current(host: &Host) -> String {
    format!(
        "rm -f {}",
        quote(&format!("{}/current", host.paths.install))
    )
}

/// The tuner command line of the release in `release_dir` (quoted), with the host's state and sysctl
/// directories.
pub fn tuner(host: &Host, release_dir: &str) -> String {
    format!(
        "{dir}/pincore-tuner --state-dir {state} --sysctl-dir {sysctl}",
        dir = release_dir,
        state = quote(&host.paths.tuner),
        sysctl = quote(&host.paths.sysctl),
    )
}

/// `pincore-tuner apply --persist` with the profile recorded in the release in `dir`.
pub fn tune(host: &Host, dir: &str) -> String {
    format!(
        "{} apply \"$(cat {dir}/profile.arg)\" --persist",
        tuner(host, dir)
    )
}

/// `pincore-tuner rollback`: back to the values before pincore's first apply.
pub fn tuner_rollback(host: &Host, dir: &str) -> String {
    format!("{} rollback", tuner(host, dir))
}

/// Exits 0 when `url` answers 2xx within a second.
pub fn health_probe(url: &str) -> String {
    format!("curl -fsS -o /dev/null --max-time 1 {}", quote(url))
}

/// One probe of the health gate: exits 0 when healthy; otherwise prints `exited` when the server is gone for
/// good (`dead` is the service manager's script for that) and exits 1.
pub fn health_gate_probe(url: &str, dead: &str) -> String {
    format!(
        "{} && exit 0; ({dead}) >/dev/null 2>&1 && echo exited; exit 1",
        health_probe(url)
    )
}

/// The scripts of the service manager that [`read_facts`] runs.
pub struct ServiceScripts {
    pub running: String,
    pub pid: String,
    pub definition_path: Option<String>,
}

/// Reads everything `facts::parse` knows in one read-only script, one `@section` each: the recorded deployment,
/// the complete releases (and the profile argument each recorded), `current`, the service, health, the
/// tuner's verify result, the installed service definition, the online CPUs, the NIC, io_uring, and for releases
/// of Debian packages the host's architecture and installed pincore packages ([`deb::facts`]).
pub fn read_facts(host: &Host, service: &ServiceScripts, health_url: &str) -> String {
    let install = quote(&host.paths.install);
    let current = format!("{install}/current");
    format!(
        "echo @deployed; cat {state}/deployed.json 2>/dev/null; echo
echo @releases; for d in {install}/releases/*; do [ -f \"$d/.complete\" ] && basename \"$d\"; done; true
echo @current; readlink {current} 2>/dev/null | sed 's#.*/##'; true
echo @running; ({running}) >/dev/null 2>&1 && echo yes || echo no
echo @pid; ({pid}) 2>/dev/null
echo @health; {probe} >/dev/null 2>&1 && echo yes || echo no
echo @verify; if [ -x {current}/pincore-tuner ]; then {tuner} verify \"$(cat {current}/profile.arg)\" >/dev/null 2>&1; echo $?; fi
echo @definition; {definition}
echo @online; cat /sys/devices/system/cpu/online 2>/dev/null
echo @nic; {nic}
echo @io_uring; cat /proc/sys/kernel/io_uring_disabled 2>/dev/null
echo @tls; {tls}
echo @profiles; for d in {install}/releases/*; do [ -f \"$d/.complete\" ] && [ -r \"$d/profile.arg\" ] && printf '%s %s\\n' \"$(basename \"$d\")\" \"$(head -n 1 \"$d/profile.arg\")\"; done; true
{packages}
echo @end",
        state = quote(&host.paths.state),
        running = service.running,
        pid = service.pid,
        probe = health_probe(health_url),
        tuner = tuner(host, &current),
        definition = match &service.definition_path {
            Some(p) => format!("sha256sum {} 2>/dev/null | cut -d' ' -f1", quote(p)),
            None => "true".into(),
        },
        packages = deb::facts(&install),
        tls = match &host.tls {
            Some(tls) => installed_tls(&tls.dir),
            None => "true".into(),
        },
        nic = match &host.nic {
            Some(nic) => format!("[ -e /sys/class/net/{} ] && echo yes || echo no", quote(nic)),
            None => "true".into(),
        },
    )
}

/// Releases of Debian packages: a release directory holds `pincore-server.deb` and `pincore-tuner.deb`, and links
/// `pincore-server` and `pincore-tuner` to the `/usr/bin` binaries the packages install, so that `current`, the
/// tuner, the service scripts, the unit and upgrades in place work as for a release of binaries.
pub mod deb {
    use super::quote;

    /// The read-only facts a deb release needs, one `@section` each: the host's dpkg architecture, the pincore
    /// packages installed (`STATUS NAME VERSION`), and the complete releases that hold packages.
    pub fn facts(install: &str) -> String {
        format!(
            "echo @arch; dpkg --print-architecture 2>/dev/null; true
echo @packages; dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}} ${{Version}}\\n' pincore-server pincore-tuner 2>/dev/null; true
echo @packaged; for d in {install}/releases/*; do [ -f \"$d/.complete\" ] && [ -f \"$d/pincore-server.deb\" ] && basename \"$d\"; done; true"
        )
    }

    /// As [`complete_release`](super::complete_release), with the configuration checked by the server binary
    /// unpacked from the release's own package (nothing is installed yet), and the links to `/usr/bin` made.
    pub fn complete_release(partial: &str, dir: &str, files: &[(&str, String)]) -> String {
        let p = quote(partial);
        let check = format!(
            "rm -rf {p}/.unpacked
dpkg-deb -x {p}/pincore-server.deb {p}/.unpacked
{p}/.unpacked/usr/bin/pincore-server check-config {p}/server.yaml
rm -rf {p}/.unpacked
ln -sfn /usr/bin/pincore-server {p}/pincore-server
ln -sfn /usr/bin/pincore-tuner {p}/pincore-tuner
"
        );
        super::complete_checked(partial, dir, files, &check)
    }

    /// Installs the packages of the release in `dir` (quoted) with `dpkg -i`: upgrades, and downgrades when
    /// going back. The configuration file the packages ship is not used by a deployed server (it reads its
    /// release's), and an operator's edit of it is kept (`--force-confold`) rather than prompted about.
    pub fn install(dir: &str) -> String {
        format!(
            "DEBIAN_FRONTEND=noninteractive dpkg -i --force-confdef --force-confold {dir}/pincore-server.deb {dir}/pincore-tuner.deb"
        )
    }

    /// Removes (not purges: the state directory and its log stay) the pincore packages named.
    pub fn remove(packages: &[String]) -> String {
        let names: Vec<String> = packages.iter().map(|p| quote(p)).collect();
        format!(
            "DEBIAN_FRONTEND=noninteractive dpkg --remove {}",
            names.join(" ")
        )
    }
}

/// systemd with the unit from [`unit::render`](crate::unit::render).
pub mod systemd {
    use super::quote;
    use crate::manifest::Host;
    use crate::unit::{SERVICE_USER, UNIT_NAME};

    /// Where the unit is installed.
    pub fn unit_path() -> String {
        format!("/etc/systemd/system/{UNIT_NAME}")
    }

    /// Creates the service user unless it exists.
    pub fn create_user() -> String {
        let user = SERVICE_USER;
        format!("id -u {user} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin {user}")
    }

    /// Gives the service user its state directory and enables the (uploaded) unit.
    pub fn enable(host: &Host) -> String {
        format!(
            "mkdir -p {state} && chown {user}: {state} && systemctl daemon-reload && systemctl enable --quiet {UNIT_NAME}",
            user = SERVICE_USER,
            state = quote(&host.paths.state),
        )
    }

    pub fn restart() -> String {
        format!("systemctl restart {UNIT_NAME}")
    }

    /// `ExecReload=`: SIGHUP, which re-reads the config and the TLS files without dropping a connection.
    pub fn reload() -> String {
        format!("systemctl reload {UNIT_NAME}")
    }

    /// The TLS directory, the service user's (created first: a first deployment installs the files before
    /// the unit).
    pub fn make_tls_dir(dir: &str) -> String {
        format!(
            "{} && {}",
            create_user(),
            super::make_tls_dir(dir, Some(SERVICE_USER))
        )
    }

    /// The running server starts its successor inside the unit (its own command line: the binary and
    /// configuration `current` points at now), which becomes the unit's main process (`MAINPID=`).
    pub fn upgrade(host: &Host) -> String {
        super::upgrade_command(host)
    }

    pub fn stop() -> String {
        format!("systemctl stop {UNIT_NAME}")
    }

    pub fn running() -> String {
        format!("systemctl is-active --quiet {UNIT_NAME}")
    }

    pub fn pid() -> String {
        format!("systemctl show --value -p MainPID {UNIT_NAME} | grep -v '^0$' || true")
    }

    /// `failed`: systemd gave up (Restart= attempts exhausted); `activating` and `active` are not dead.
    pub fn dead() -> String {
        format!("systemctl is-failed --quiet {UNIT_NAME}")
    }

    pub fn log() -> String {
        format!("journalctl --no-pager -q -n 3 -u {UNIT_NAME} 2>/dev/null || true")
    }
}

/// Where the running server listens for its successor (`--handoff-socket`): in the state directory, the one
/// place the hardened unit lets the server write.
pub fn handoff_socket(host: &Host) -> String {
    format!("{}/handoff.sock", host.paths.state)
}

/// Asks the running server to hand its listeners to a server started from `current`; prints the outcome.
fn upgrade_command(host: &Host) -> String {
    format!(
        "{current}/pincore-server upgrade --handoff-socket {socket}",
        current = quote(&format!("{}/current", host.paths.install)),
        socket = quote(&handoff_socket(host)),
    )
}

/// A plain supervisor for hosts without systemd: the server runs detached in its own session, its pid in
/// `STATE/server.pid` and its output in `STATE/server.log`.
pub mod supervisor {
    use super::quote;
    use crate::manifest::Host;

    /// A shell function: is process $1 alive? (A killed process whose parent is gone stays a zombie until init
    /// reaps it, and `kill -0` still succeeds on a zombie.)
    const ALIVE: &str =
        "alive() { kill -0 \"$1\" 2>/dev/null && ! grep -q '^State:.*Z' /proc/\"$1\"/status 2>/dev/null; }";

    fn pidfile(host: &Host) -> String {
        quote(&format!("{}/server.pid", host.paths.state))
    }

    /// Creates the state directory.
    pub fn install(host: &Host) -> String {
        super::make_state_dir(host)
    }

    /// TERM, then up to 10 s for the drain, then KILL: bounded, and leaves no pidfile behind.
    pub fn stop(host: &Host) -> String {
        format!(
            "{ALIVE}
pidfile={pidfile}
if [ -f \"$pidfile\" ]; then
  pid=$(cat \"$pidfile\")
  if [ -n \"$pid\" ] && alive \"$pid\"; then
    kill -TERM \"$pid\"
    i=0
    while alive \"$pid\" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    kill -KILL \"$pid\" 2>/dev/null || true
  fi
  rm -f \"$pidfile\"
fi",
            pidfile = pidfile(host)
        )
    }

    /// Stops the server, checks the config and starts the server from `current` (pinned to the host's CPUs).
    pub fn restart(host: &Host) -> String {
        let current = quote(&format!("{}/current", host.paths.install));
        let log = quote(&format!("{}/server.log", host.paths.state));
        let pin = host
            .cpus
            .as_deref()
            .map(|c| format!("taskset -c {} ", quote(c)))
            .unwrap_or_default();
        // `trap '' HUP`: run over a pty (Ansible's ssh uses `-tt`), closing the session sends SIGHUP to this
        // shell's process group, which the server is still in until `setsid` has run; an ignored SIGHUP survives
        // exec, and the server installs its own (reload) handler once it is up.
        format!(
            "set -e
trap '' HUP
{stop}
mkdir -p {state}
{current}/pincore-server check-config {current}/server.yaml >/dev/null
setsid {pin}{current}/pincore-server --config {current}/server.yaml --handoff-socket {socket} >>{log} 2>&1 </dev/null &
echo $! > {pidfile}",
            stop = stop(host),
            state = quote(&host.paths.state),
            pidfile = pidfile(host),
            socket = quote(&super::handoff_socket(host)),
        )
    }

    /// SIGHUP to the running server: it re-reads the config and the TLS files, keeping every connection.
    pub fn reload(host: &Host) -> String {
        format!(
            "{} || {{ echo 'the server is not running' >&2; exit 1; }}\nkill -HUP \"$pid\"",
            running(host)
        )
    }

    /// As systemd's, and the successor's pid replaces the old one in the pidfile.
    pub fn upgrade(host: &Host) -> String {
        format!(
            "set -e\nout=$({upgrade})\necho \"$out\"\necho \"$out\" | sed -n 's/.*(pid \\([0-9]*\\)).*/\\1/p' > {pidfile}",
            upgrade = super::upgrade_command(host),
            pidfile = pidfile(host),
        )
    }

    pub fn running(host: &Host) -> String {
        format!(
            "{ALIVE}\npid=$(cat {} 2>/dev/null) && [ -n \"$pid\" ] && alive \"$pid\"",
            pidfile(host)
        )
    }

    pub fn pid(host: &Host) -> String {
        format!("{} && echo \"$pid\" || true", running(host))
    }

    /// Nothing restarts a supervised server: once its process is gone it stays gone.
    pub fn dead(host: &Host) -> String {
        format!("! ({})", running(host))
    }

    pub fn log(host: &Host) -> String {
        format!(
            "tail -n 3 {} 2>/dev/null || true",
            quote(&format!("{}/server.log", host.paths.state))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Local, Transport};

    #[test]
    fn quoting_survives_the_shell() {
        let local = Local::new("here");
        for text in ["plain", "with space", "it's", "$HOME `x` \"y\"", ""] {
            let out = local
                .run(&format!("printf %s {}", quote(text)), b"")
                .unwrap();
            assert_eq!(out.stdout, text);
        }
    }

    #[test]
    fn tls_files_are_private_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("pin core tls");
        let local = Local::new("here");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        local
            .check("dir", &make_tls_dir(tls.to_str().unwrap(), None), b"")
            .unwrap();
        assert_eq!(mode(&tls), 0o700);
        let key = tls.join("key.pem");
        for content in ["first key", "second key"] {
            local
                .check(
                    "key",
                    &install_secret(key.to_str().unwrap(), None),
                    content.as_bytes(),
                )
                .unwrap();
            assert_eq!(std::fs::read_to_string(&key).unwrap(), content);
            assert_eq!(mode(&key), 0o600);
        }
        assert_eq!(
            std::fs::read_dir(&tls).unwrap().count(),
            1,
            "no temp file left"
        );
        let listed = local
            .run(&installed_tls(tls.to_str().unwrap()), b"")
            .unwrap();
        assert_eq!(
            listed.stdout,
            format!("key.pem {} 600\n", crate::release::sha256(b"second key"))
        );
    }

    fn host(install: &str, state: &str) -> Host {
        let mut host = crate::unit::tests::host(None);
        host.paths.install = install.into();
        host.paths.state = state.into();
        host
    }

    #[test]
    fn plain_paths_stay_bare_and_others_are_quoted_once() {
        let plain = host("/opt/pincore", "/var/lib/pincore");
        assert_eq!(release_dir(&plain, "ab12"), "/opt/pincore/releases/ab12");
        assert_eq!(
            switch(&plain, "ab12"),
            "ln -sfn releases/ab12 /opt/pincore/.current.new && mv -Tf /opt/pincore/.current.new /opt/pincore/current"
        );
        let odd = host("/opt/pin core", "/var/lib/it's");
        assert_eq!(release_dir(&odd, "ab12"), "'/opt/pin core/releases/ab12'");
        assert_eq!(remove_current(&odd), "rm -f '/opt/pin core/current'");
        assert_eq!(make_state_dir(&odd), r"mkdir -p '/var/lib/it'\''s'");
        assert_eq!(
            tuner(&odd, &release_dir(&odd, "ab12")),
            "'/opt/pin core/releases/ab12'/pincore-tuner --state-dir /var/lib/pincore-tuner --sysctl-dir /etc/sysctl.d"
        );
        assert_eq!(
            health_probe("http://[::1]:9180/healthz"),
            "curl -fsS -o /dev/null --max-time 1 'http://[::1]:9180/healthz'"
        );
    }

    #[test]
    fn a_file_written_into_a_release_keeps_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join("p q");
        std::fs::create_dir(&partial).unwrap();
        let text = "it's $HOME `x`\n\"y\"\n";
        // The check-config line fails here (no server binary): the writes before it are what is tested.
        let script = complete_release(
            partial.to_str().unwrap(),
            dir.path().join("done").to_str().unwrap(),
            &[("profile.arg", text.to_string())],
        );
        Local::new("here").run(&script, b"").unwrap();
        assert_eq!(
            std::fs::read_to_string(partial.join("profile.arg")).unwrap(),
            text
        );
    }
}
