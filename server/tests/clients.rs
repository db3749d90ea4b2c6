//! Real Redis clients against pincore-server: redis-py with its default settings (RESP3) and ioredis, each
//! with the service open and with users configured; and the HELLO/AUTH replies on the wire.

mod support;

use std::path::Path;
use std::process::Command;

use pincore_testkit::{command, require, Missing};
use support::{redis_py, Server};

/// SHA-256 of `s3cret` and of `app-pass`, as `printf %s PASSWORD | sha256sum` prints them.
const S3CRET: &str = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";
const APP_PASS: &str = "e8d2ceab404c3b326738ef7b974436bf5420cf3b7abc617b67c4d1e1ed3f3f1e";

const PORTS: &str =
    "  echo: {listen: 127.0.0.1:0}\n  admin: {listen: 127.0.0.1:0}\nlog: {level: debug}\n";

fn open_server() -> Server {
    Server::start_from(
        &format!("services:\n  resp: {{listen: 127.0.0.1:0}}\n{PORTS}"),
        &[],
    )
}

fn server_with_users() -> Server {
    Server::start_from(
        &format!(
            "services:\n  resp:\n    listen: 127.0.0.1:0\n    settings:\n      users:\n        - {{name: default, password_sha256: {S3CRET}}}\n        - {{name: app, password_sha256: {APP_PASS}}}\n{PORTS}"
        ),
        &[],
    )
}

fn script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// `node` can require ioredis (the test command installs it and sets NODE_PATH).
fn ioredis() -> Result<(), Missing> {
    command("node")?;
    let ok = Command::new("node")
        .args(["-e", "require('ioredis')"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(()).ok_or_else(|| {
        Missing(
            "ioredis is not installed (npm install ioredis, NODE_PATH to its node_modules)".into(),
        )
    })
}

fn run_client(program: &str, file: &str, server: &Server, password: Option<&str>) {
    let mut cmd = Command::new(program);
    cmd.arg(script(file)).arg(server.resp.port().to_string());
    // ioredis.js asks the admin endpoint which shard serves each of its connections.
    cmd.env("PINCORE_ADMIN_PORT", server.admin.port().to_string());
    if let Some(p) = password {
        cmd.arg(p);
    }
    // Bounded by the clients' own socket timeouts (5 s per call) and nextest's slow-test limit.
    let out = cmd.output().expect("client ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{file}:\n{stdout}\n{}\n--- server log\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}

#[test]
fn redis_py_with_default_settings_works() {
    require!(redis_py());
    let server = open_server();
    run_client("python3", "redis_py.py", &server, None);
}

#[test]
fn redis_py_authenticates_and_is_refused_without_the_password() {
    require!(redis_py());
    let server = server_with_users();
    run_client("python3", "redis_py.py", &server, Some("s3cret"));
    assert!(server.metric("pincore_auth_failures_total{shard=\"total\"}") >= 1.0);
}

/// redis-py's client-side cache (RESP3 and CLIENT TRACKING) serves reads from memory and drops what
/// another connection writes or FLUSHALL empties.
#[test]
fn redis_py_client_side_cache_is_invalidated() {
    require!(redis_py());
    let server = open_server();
    run_client("python3", "redis_py_tracking.py", &server, None);
}

/// Users made with ACL SETUSER, authenticated and refused through redis-py.
#[test]
fn redis_py_runtime_acl_users() {
    require!(redis_py());
    let server = open_server();
    run_client("python3", "redis_py_acl.py", &server, None);
}

/// Users made with ACL SETUSER, authenticated and refused through ioredis.
#[test]
fn ioredis_runtime_acl_users() {
    require!(ioredis());
    let server = open_server();
    run_client("node", "ioredis_acl.js", &server, None);
}

#[test]
fn ioredis_works() {
    require!(ioredis());
    let server = open_server();
    run_client("node", "ioredis.js", &server, None);
}

#[test]
fn ioredis_authenticates() {
    require!(ioredis());
    let server = server_with_users();
    run_client("node", "ioredis.js", &server, Some("s3cret"));
}

#[test]
fn hello_switches_the_protocol_and_replies_in_it() {
    use std::io::Write;
    let server = open_server();
    let mut stream = server.connect();
    stream
        .write_all(b"HELLO 3\r\nGET missing\r\nHELLO 2\r\nGET missing\r\nHELLO 4\r\nHELLO x\r\n")
        .unwrap();
    let last = "-ERR Protocol version is not an integer or out of range\r\n";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut reply = Vec::new();
    while !String::from_utf8_lossy(&reply).ends_with(last) {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&reply)
        );
        reply.extend(support::read_at_least(&mut stream, 1));
    }
    let text = String::from_utf8_lossy(&reply);
    // HELLO 3 answers with a RESP3 map of seven fields, proto 3.
    assert!(text.starts_with("%7\r\n$6\r\nserver\r\n"), "{text}");
    let [hello3, after3, after2]: [&str; 3] = text
        .split("$7\r\nmodules\r\n*0\r\n")
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert!(hello3.contains("$5\r\nproto\r\n:3\r\n"), "{hello3}");
    // Then a missing key is RESP3's null, and HELLO 2 answers with a flat array, proto 2.
    assert!(after3.starts_with("_\r\n*14\r\n"), "{after3}");
    assert!(after3.contains("$5\r\nproto\r\n:2\r\n"), "{after3}");
    // Back in RESP2 the null is `$-1`; an unknown version keeps the connection as it was.
    assert_eq!(
        after2,
        format!("$-1\r\n-NOPROTO sorry, this protocol version is not supported.\r\n{last}")
    );
}

#[test]
fn with_users_only_hello_auth_ping_and_quit_run_before_auth() {
    require!(command("redis-cli"));
    let server = server_with_users();
    let port = server.resp.port().to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .unwrap();
        // redis-cli reports a failed AUTH on stderr, then runs the command unauthenticated.
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )
        .trim()
        .to_string()
    };
    assert_eq!(cli(&["SET", "k", "v"]), "NOAUTH Authentication required.");
    assert_eq!(cli(&["PING"]), "PONG");
    assert_eq!(cli(&["RESET"]), "RESET");
    // RESET after AUTH ends the authentication too.
    let out = Command::new("redis-cli")
        .args(["-p", &port])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(b"AUTH s3cret\nGET k\nRESET\nGET k\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK\n\nRESET\nNOAUTH Authentication required."
    );
    assert_eq!(
        cli(&[
            "--user",
            "app",
            "--pass",
            "app-pass",
            "--no-auth-warning",
            "ACL",
            "WHOAMI"
        ]),
        "app"
    );
    assert_eq!(
        cli(&["-a", "s3cret", "--no-auth-warning", "SET", "k", "v"]),
        "OK"
    );
    assert!(cli(&["-a", "nope", "--no-auth-warning", "GET", "k"]).contains("WRONGPASS"));
    let failures = server.metric("pincore_auth_failures_total{shard=\"total\"}");
    assert!(failures >= 1.0, "{failures}");
    // The configuration holds hashes: a plain password there is refused with the fix.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        bad.path(),
        format!("services:\n  resp:\n    listen: 127.0.0.1:0\n    settings:\n      users: [{{name: default, password_sha256: hunter2}}]\n{PORTS}"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pincore-server"))
        .arg("check-config")
        .arg(bad.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("users[0].password_sha256") && stderr.contains("sha256sum"),
        "{stderr}"
    );
}

#[test]
fn a_reload_that_would_open_an_exposed_service_is_refused() {
    // Listening on every address with users: allowed. The same file without users would let anyone who
    // reaches the port read and FLUSHALL the data; SIGHUP must refuse it as start-up does.
    let with_users = format!(
        "services:\n  resp:\n    listen: 0.0.0.0:0\n    settings:\n      users: [{{name: default, password_sha256: {S3CRET}}}]\n{PORTS}"
    );
    let server = Server::start_from(&with_users, &[]);
    let on_loopback = std::net::SocketAddr::from(([127, 0, 0, 1], server.resp.port()));
    std::fs::write(
        &server.config_path,
        with_users.replace(
            &format!(
                "\n    settings:\n      users: [{{name: default, password_sha256: {S3CRET}}}]"
            ),
            "",
        ),
    )
    .unwrap();
    server.process.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !server.log().contains("reload failed") {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = server.log();
    assert!(
        log.contains("services.resp.listen") && log.contains("no users are configured"),
        "{log}"
    );
    // The running settings stay: a new connection still has to authenticate.
    let mut client = std::net::TcpStream::connect(on_loopback).unwrap();
    use std::io::Write;
    client.write_all(b"GET k\r\n").unwrap();
    assert!(
        String::from_utf8_lossy(&support::read_at_least(&mut client, 7)).starts_with("-NOAUTH"),
        "{}",
        server.log()
    );
}
