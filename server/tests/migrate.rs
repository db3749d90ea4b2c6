//! MIGRATE from pincore-server to a real redis-server and to another pincore-server: every type arrives as
//! the same value with its TTL, the keys leave the source only once the target acknowledged them (not with
//! COPY), and a refusing, password-protected, closed or silent target answers as Redis words it.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use pincore_testkit::{command, require};
use support::values::{digest, fill, Pair, KEYS};
use support::{Client, Server};

/// SHA-256 of `s3cret`, as `printf %s s3cret | sha256sum` prints it.
const S3CRET: &str = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// `MIGRATE host port key db timeout <options> [KEYS keys...]` (with `keys`, the key argument is "").
fn migrate_with(
    c: &mut Client,
    to: std::net::SocketAddr,
    key: &str,
    timeout_ms: &str,
    options: &[&str],
    keys: Option<&[&str]>,
) -> String {
    let (host, port) = (to.ip().to_string(), to.port().to_string());
    let mut args: Vec<&[u8]> = vec![b"MIGRATE", host.as_bytes(), port.as_bytes()];
    args.extend([key.as_bytes(), b"0", timeout_ms.as_bytes()]);
    args.extend(options.iter().map(|o| o.as_bytes()));
    if let Some(keys) = keys {
        args.push(b"KEYS");
        args.extend(keys.iter().map(|k| k.as_bytes()));
    }
    text(&c.call(&args))
}

fn migrate_keys(
    c: &mut Client,
    to: std::net::SocketAddr,
    options: &[&str],
    keys: &[&str],
) -> String {
    migrate_with(c, to, "", "5000", options, Some(keys))
}

fn migrate_one(
    c: &mut Client,
    to: std::net::SocketAddr,
    key: &str,
    timeout_ms: &str,
    options: &[&str],
) -> String {
    migrate_with(c, to, key, timeout_ms, options, None)
}

/// Every type, compact and large, moves to redis-server with one MIGRATE ... KEYS: redis-server then holds
/// the values it makes itself from the same commands, the TTL arrives, and the keys are gone here.
#[test]
fn migrate_moves_every_type_to_redis_server() {
    require!(command("redis-server"));
    let (servers, mut redis, mut ours) = Pair::start();
    // redis-server's own values of the same commands, under other names, to compare with.
    fill(&mut redis);
    for key in KEYS {
        let reference = format!("reference:{key}");
        assert_eq!(
            redis.call(&[b"RENAME", key.as_bytes(), reference.as_bytes()]),
            b"+OK\r\n"
        );
    }
    fill(&mut ours);
    // Redis's digest of a value counts whether it has a TTL: both copies get one.
    ours.call(&[b"PEXPIRE", b"string", b"100000"]);
    redis.call(&[b"PEXPIRE", b"reference:string", b"100000"]);
    let mut keys = KEYS.to_vec();
    keys.push("missing");
    assert_eq!(
        migrate_keys(&mut ours, servers.redis_addr, &[], &keys),
        "+OK\r\n"
    );
    for key in KEYS {
        let reference = format!("reference:{key}");
        assert_eq!(
            digest(&mut redis, key),
            digest(&mut redis, &reference),
            "{key} differs on redis-server after MIGRATE"
        );
        assert_eq!(ours.call(&[b"EXISTS", key.as_bytes()]), b":0\r\n", "{key}");
    }
    let ttl: i64 = text(&redis.call(&[b"PTTL", b"string"]))
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!((90_000..=100_000).contains(&ttl), "PTTL {ttl}");
    assert_eq!(redis.call(&[b"PTTL", b"int"]), b":-1\r\n");
    // Nothing left to move: NOKEY, without connecting (port 1 has no listener).
    let closed: std::net::SocketAddr = ([127, 0, 0, 1], 1).into();
    assert_eq!(
        migrate_one(&mut ours, closed, "string", "1000", &[]),
        "+NOKEY\r\n"
    );
    // redis-server refuses an existing key without REPLACE, in its words, and the key stays here.
    ours.call(&[b"SET", b"string", b"again"]);
    assert_eq!(
        migrate_one(&mut ours, servers.redis_addr, "string", "5000", &[]),
        "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
    );
    assert_eq!(ours.call(&[b"EXISTS", b"string"]), b":1\r\n");
    assert_eq!(
        migrate_one(
            &mut ours,
            servers.redis_addr,
            "string",
            "5000",
            &["COPY", "REPLACE"]
        ),
        "+OK\r\n"
    );
    assert_eq!(ours.call(&[b"GET", b"string"]), b"$5\r\nagain\r\n");
    assert_eq!(redis.call(&[b"GET", b"string"]), b"$5\r\nagain\r\n");
    assert_eq!(redis.call(&[b"PTTL", b"string"]), b":-1\r\n");
}

/// Between two pincore-servers: COPY keeps the source, REPLACE overwrites, BUSYKEY is passed through, AUTH
/// and AUTH2 reach a password-protected target and a wrong password is the target's own error.
#[test]
fn migrate_between_pincore_servers() {
    let source = Server::start();
    let target = Server::start_from(
        &format!(
            "services:\n  resp:\n    listen: 127.0.0.1:0\n    settings:\n      users:\n        - {{name: default, password_sha256: {S3CRET}}}\n  echo: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\n"
        ),
        &[],
    );
    let mut ours = Client::connect(source.resp);
    let mut theirs = Client::connect(target.resp);
    assert_eq!(theirs.line("AUTH s3cret"), "+OK\r\n");
    for i in 0..3 {
        ours.line(&format!("RPUSH list{i} a b {i}"));
    }
    ours.line("SET s v");
    // (options, what the reply starts with, then whether `s` is still here)
    let steps: [(&[&str], &str, &str); 6] = [
        (&[], "-ERR Target instance replied with error: NOAUTH", ":1"),
        (
            &["AUTH", "wrong"],
            "-ERR Target instance replied with error: WRONGPASS",
            ":1",
        ),
        (&["COPY", "AUTH", "s3cret"], "+OK", ":1"),
        (
            &["AUTH2", "default", "s3cret"],
            "-ERR Target instance replied with error: BUSYKEY Target key name already exists.",
            ":1",
        ),
        (&["REPLACE", "AUTH2", "default", "s3cret"], "+OK", ":0"),
        (&["AUTH", "s3cret"], "+NOKEY", ":0"),
    ];
    for (i, (options, reply, left)) in steps.iter().enumerate() {
        if i == 3 {
            ours.line("SET s changed");
        }
        let got = migrate_one(&mut ours, target.resp, "s", "5000", options);
        assert!(got.starts_with(reply), "{options:?}: {got}");
        assert_eq!(ours.line("EXISTS s").trim_end(), *left, "{options:?}");
    }
    assert_eq!(theirs.line("GET s"), "$7\r\nchanged\r\n");
    assert_eq!(
        migrate_keys(
            &mut ours,
            target.resp,
            &["AUTH", "s3cret"],
            &["list0", "list1", "list2"]
        ),
        "+OK\r\n"
    );
    assert_eq!(ours.line("EXISTS list0 list1 list2"), ":0\r\n");
    assert_eq!(
        theirs.line("LRANGE list2 0 -1"),
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    // Bad input is answered before anything is looked at.
    assert_eq!(
        migrate_one(&mut ours, target.resp, "s", "5000", &["KEYS", "s"]),
        "-ERR When using MIGRATE KEYS option, the key argument must be set to the empty string\r\n"
    );
    assert_eq!(
        migrate_one(&mut ours, target.resp, "s", "soon", &[]),
        "-ERR value is not an integer or out of range\r\n"
    );
    source.assert_healthy();
    target.assert_healthy();
}

/// A target that accepts and never answers costs the timeout, not more, and the key stays; a closed port
/// is Redis's connect error. The shard keeps serving other commands meanwhile.
#[test]
fn migrate_to_a_silent_or_closed_target_times_out_and_keeps_the_key() {
    let source = Server::start();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let mut ours = Client::connect(source.resp);
    ours.line("SET k v");
    let started = Instant::now();
    assert_eq!(
        migrate_one(&mut ours, silent_addr, "k", "300", &[]),
        "-IOERR error or timeout reading to target instance\r\n"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(ours.line("GET k"), "$1\r\nv\r\n");
    // A port with no listener: bind one, note it, close it.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(
        migrate_one(&mut ours, closed, "k", "300", &[]),
        "-IOERR error or timeout connecting to the client\r\n"
    );
    assert_eq!(ours.line("EXISTS k"), ":1\r\n");
    drop(silent);
    source.assert_healthy();
}
