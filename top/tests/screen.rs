//! The terminal view itself, run in tmux at 80×24 and read with `tmux capture-pane`: shard rows with
//! non-zero rates under load, and a doctor finding when listen queues overflow inside a network namespace
//! the test creates (pincore-top runs in that namespace, so it reads that namespace's counters).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use pincore_testkit::{command, netns, require, root, NetNs};
use support::{load, Server};

/// A tmux session running `program`, killed on drop.
struct Tmux(String);

impl Tmux {
    fn start(name: &str, program: &[&str]) -> Tmux {
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", name, "-x", "80", "-y", "24"])
            .args(program)
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Tmux(name.to_string())
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits up to `within` for a screen that `wanted` accepts; the last screen either way.
    fn wait_for(&self, within: Duration, wanted: impl Fn(&str) -> bool) -> (bool, String) {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if wanted(&screen) || Instant::now() > deadline {
                return (wanted(&screen), screen);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

/// Shard rows (below the `SH CPU BUSY REQ/s` header) whose REQ/s is not zero.
fn busy_shard_rows(screen: &str) -> usize {
    screen
        .lines()
        .skip_while(|l| !l.starts_with("SH "))
        .skip(1)
        .take_while(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|l| l.split_whitespace().nth(3).is_some_and(|rate| rate != "0"))
        .count()
}

#[test]
fn the_live_view_shows_shard_rows_of_a_loaded_server() {
    let server = support::server_binary!();
    require!(
        command("tmux"),
        command("redis-benchmark"),
        command("timeout")
    );
    let s = Server::start(&server, &[], "");
    let _load = load(s.resp, 5_000_000);
    let top = env!("CARGO_BIN_EXE_pincore-top");
    let session = format!("pincore-top-{}", std::process::id());
    // A debug build under full load on a shared machine can take over the default second to scrape.
    let tmux = Tmux::start(&session, &[top, "--timeout", "5s", &s.admin.to_string()]);
    let (seen, screen) = tmux.wait_for(Duration::from_secs(30), |s| busy_shard_rows(s) > 0);
    assert!(seen, "no shard row with a non-zero rate:\n{screen}");
    assert!(screen.contains("up"), "{screen}");
    assert!(
        screen.contains("q quit"),
        "the key line fits 80x24:\n{screen}"
    );
    // q quits: the session ends with the program.
    let _ = Command::new("tmux")
        .args(["send-keys", "-t", &session, "q"])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Command::new("tmux")
        .args(["has-session", "-t", &session])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            Instant::now() < deadline,
            "q did not quit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn listen_overflows_in_a_namespace_become_a_doctor_finding_on_screen() {
    let server = support::server_binary!();
    require!(
        root(),
        netns(),
        command("tmux"),
        command("python3"),
        command("timeout")
    );
    let ns = NetNs::new("top").expect("network namespace");
    let s = Server::start(&server, &["ip", "netns", "exec", ns.name()], "");
    // A listener that never accepts, with a backlog of 1, hammered with connects for a bounded time: its
    // accept queue overflows (TcpExt.ListenOverflows grows in this namespace only).
    let storm = r#"
import socket, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
port = l.getsockname()[1]
end = time.time() + 12
while time.time() < end:
    cs = []
    for _ in range(40):
        c = socket.socket(); c.setblocking(False)
        try: c.connect(("127.0.0.1", port))
        except BlockingIOError: pass
        cs.append(c)
    time.sleep(0.2)
    for c in cs: c.close()
"#;
    // `ip netns exec` execs python, so dropping the guard kills the storm itself.
    let _storm = pincore_testkit::KillOnDrop::spawn(
        ns.command("python3")
            .args(["-c", storm])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )
    .expect("start the connection storm");
    let top = env!("CARGO_BIN_EXE_pincore-top");
    let session = format!("pincore-top-ns-{}", std::process::id());
    let admin = s.admin.to_string();
    let tmux = Tmux::start(
        &session,
        &[
            "ip",
            "netns",
            "exec",
            ns.name(),
            top,
            "--timeout",
            "5s",
            &admin,
        ],
    );
    // The finding's line (`! ListenOverflows: set KNOB = VALUE`), not only the counter on the tcp line.
    let finding = |screen: &str| {
        screen
            .lines()
            .any(|l| l.starts_with("! ListenOverflows: set "))
    };
    let (seen, screen) = tmux.wait_for(Duration::from_secs(30), finding);
    assert!(
        seen,
        "no ListenOverflows finding on screen:\n{screen}\n{}",
        s.log()
    );
    assert!(
        screen.contains("TcpExt.ListenOverflows +"),
        "the counter grew:\n{screen}"
    );
}
