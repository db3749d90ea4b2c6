//! `pincore-bench run` as a user drives it: JSON with the documented fields, clear errors on bad input.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use pincore_testkit::{command, free_port, require, wait_for_tcp, KillOnDrop};

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
}

fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The fields README documents for `run --json`.
const FIELDS: [&str; 22] = [
    "target",
    "protocol",
    "mode",
    "connections",
    "pipeline",
    "threads",
    "cpus",
    "value_size",
    "target_rate",
    "warmup_s",
    "duration_s",
    "rate",
    "requests",
    "error_replies",
    "timeouts",
    "connect_errors",
    "io_errors",
    "lost",
    "resent",
    "all_replies",
    "latency_us",
    "latency_us.p99_us",
];

fn field<'a>(json: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    path.split('.').fold(json, |v, k| &v[k])
}

#[test]
fn json_output_has_the_documented_fields() {
    let target = echo_server();
    let out = bench()
        .args([
            "run",
            "--target",
            &target.to_string(),
            "--protocol",
            "echo",
            "--json",
        ])
        .args([
            "-c",
            "4",
            "-P",
            "2",
            "-d",
            "500ms",
            "--warmup",
            "100ms",
            "--value-size",
            "32",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for f in FIELDS {
        assert!(
            !field(&json, f).is_null() || f == "target_rate",
            "missing {f} in {json:#}"
        );
    }
    assert_eq!(json["mode"], "closed");
    assert_eq!(json["protocol"], "echo");
    assert_eq!(json["connections"], 4);
    assert!(json["requests"].as_u64().unwrap() > 0, "{json:#}");
    // The whole run's replies include the warm-up's, which the measured window does not count.
    assert!(
        json["all_replies"].as_u64().unwrap() > json["requests"].as_u64().unwrap(),
        "{json:#}"
    );
    assert_eq!(json["io_errors"], 0);
    for p in ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"] {
        assert!(
            json["latency_us"][p].as_f64().unwrap() > 0.0,
            "{p} in {json:#}"
        );
    }
    let p = &json["latency_us"];
    assert!(
        p["p50_us"].as_f64() <= p["p99_us"].as_f64()
            && p["p99_us"].as_f64() <= p["max_us"].as_f64()
    );
}

#[test]
fn open_loop_json_reports_target_and_achieved_rate() {
    let target = echo_server();
    let out = bench()
        .args([
            "run",
            "--target",
            &target.to_string(),
            "--protocol",
            "echo",
            "--json",
            "--rate",
            "2000",
        ])
        .args(["-c", "2", "-d", "500ms", "--warmup", "100ms", "--no-pin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mode"], "open");
    assert_eq!(json["target_rate"], 2000.0);
    assert_eq!(json["cpus"], serde_json::Value::Null);
    let rate = json["rate"].as_f64().unwrap();
    assert!(
        (1500.0..2100.0).contains(&rate),
        "achieved {rate} for a target of 2000/s"
    );
}

#[test]
fn bad_input_says_what_and_where() {
    let out = bench()
        .args(["run", "--target", "127.0.0.1:1", "-d", "10h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit `h`"));

    let out = bench()
        .args(["run", "--target", "no-port-here", "-d", "100ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target no-port-here"));

    let out = bench()
        .args([
            "run",
            "--target",
            "127.0.0.1:1",
            "--protocol",
            "echo",
            "--value-size",
            "0",
            "-d",
            "100ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--value-size"));
}

#[test]
fn a_fractional_duration_is_accepted_as_every_tool_accepts_it() {
    // `1.5s` as pincore-tuner's --interval and a deploy manifest's rollout times accept it.
    let target = echo_server();
    let out = bench()
        .args(["run", "--target", &target.to_string(), "--protocol", "echo"])
        .args(["--json", "-c", "2", "-d", "1.5s", "--warmup", "0s"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["duration_s"], 1.5);
    assert!(json["requests"].as_u64().unwrap() > 0, "{json:#}");
}

#[test]
fn resp_against_redis_server_has_no_errors() {
    require!(command("redis-server"));
    let port = free_port();
    let _redis = KillOnDrop::spawn(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null()),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_tcp(addr, Duration::from_secs(10)).unwrap();
    let out = bench()
        .args([
            "run",
            "--target",
            &addr.to_string(),
            "--json",
            "-c",
            "8",
            "-P",
            "8",
        ])
        .args([
            "-d",
            "500ms",
            "--warmup",
            "100ms",
            "--set-ratio",
            "0.5",
            "--keys",
            "100",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["requests"].as_u64().unwrap() > 100, "{json:#}");
    for f in [
        "error_replies",
        "timeouts",
        "connect_errors",
        "io_errors",
        "lost",
    ] {
        assert_eq!(json[f], 0, "{f} in {json:#}");
    }
}

#[test]
fn a_run_where_every_connect_fails_exits_non_zero_and_names_the_error() {
    // Nothing listens on this port: every connect is refused; the run still ends on time.
    let port = free_port();
    let started = std::time::Instant::now();
    let out = bench()
        .args(["run", "--target", &format!("127.0.0.1:{port}"), "-c", "2"])
        .args(["-d", "300ms", "--warmup", "0ms", "--json"])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("no connection to 127.0.0.1:{port} succeeded"))
            && stderr.contains("Connection refused"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "no table of zeros: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A RESP server that ends every connection the way a draining server does: it answers five requests
/// (`+OK` to anything), reads a sixth and, with `cut`, writes half a reply and closes; without, it answers
/// nothing more, shuts its write side and reads until the client closes.
fn draining_server(cut: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let limits = pincore_resp::Limits::default();
                let (mut input, mut buf, mut read) = (Vec::new(), [0u8; 4096], 0);
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => input.extend_from_slice(&buf[..n]),
                    }
                    while let Ok(Some((len, _))) = pincore_resp::skip_reply(&input, &limits) {
                        input.drain(..len);
                        read += 1;
                        if read <= 5 {
                            if stream.write_all(b"+OK\r\n").is_err() {
                                return;
                            }
                            continue;
                        }
                        if cut {
                            let _ = stream.write_all(b"$10\r\nabc");
                            return;
                        }
                        let _ = stream.shutdown(std::net::Shutdown::Write);
                        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn run_against(target: SocketAddr) -> serde_json::Value {
    let out = bench()
        .args(["run", "--target", &target.to_string(), "--json"])
        .args([
            "-c",
            "2",
            "-d",
            "1s",
            "--warmup",
            "100ms",
            "--set-ratio",
            "0",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_clean_close_between_replies_resends_the_unanswered_request_and_loses_nothing() {
    let json = run_against(draining_server(false));
    assert!(json["resent"].as_u64().unwrap() > 0, "{json:#}");
    for f in [
        "error_replies",
        "timeouts",
        "connect_errors",
        "io_errors",
        "lost",
    ] {
        assert_eq!(json[f], 0, "{f} in {json:#}");
    }
    // Five answers per connection: the run went through many closes, each costing nothing.
    assert!(json["requests"].as_u64().unwrap() > 50, "{json:#}");
}

#[test]
fn a_close_in_the_middle_of_a_reply_is_an_error_and_its_request_lost() {
    let json = run_against(draining_server(true));
    assert_eq!(json["resent"], 0, "{json:#}");
    assert!(json["io_errors"].as_u64().unwrap() > 0, "{json:#}");
    assert!(json["lost"].as_u64().unwrap() > 0, "{json:#}");
}
