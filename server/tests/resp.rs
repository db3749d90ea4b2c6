//! The RESP service driven by real clients: redis-cli, redis-benchmark and raw sockets.

mod support;

use std::io::Write;
use std::process::Command;

use pincore_testkit::{command, require};
use support::{read_at_least, Server};

#[test]
fn every_command_through_redis_cli() {
    require!(command("redis-cli"));
    let s = Server::start();
    assert_eq!(s.cli(&["PING"]), "PONG");
    assert_eq!(s.cli(&["PING", "hello"]), "hello");
    assert_eq!(s.cli(&["ECHO", "two words"]), "two words");
    assert_eq!(s.cli(&["SET", "k", "v"]), "OK");
    assert_eq!(s.cli(&["GET", "k"]), "v");
    assert_eq!(s.cli(&["SET", "k", "w", "NX"]), "");
    assert_eq!(s.cli(&["SET", "k", "w", "XX", "EX", "100"]), "OK");
    assert_eq!(s.cli(&["TTL", "k"]), "100");
    assert_eq!(s.cli(&["SET", "k", "x", "PX", "50000"]), "OK");
    assert_eq!(s.cli(&["TTL", "k"]), "50");
    assert_eq!(s.cli(&["SET", "absent", "x", "XX"]), "");
    assert_eq!(s.cli(&["EXISTS", "k", "absent", "k"]), "2");
    assert_eq!(s.cli(&["INCR", "n"]), "1");
    assert_eq!(s.cli(&["INCRBY", "n", "41"]), "42");
    assert_eq!(s.cli(&["DECR", "n"]), "41");
    assert_eq!(
        s.cli(&["INCR", "k"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(s.cli(&["EXPIRE", "n", "30"]), "1");
    assert_eq!(s.cli(&["TTL", "n"]), "30");
    assert_eq!(s.cli(&["TTL", "absent"]), "-2");
    assert_eq!(s.cli(&["MSET", "a", "1", "b", "2", "c", "3"]), "OK");
    assert_eq!(s.cli(&["MGET", "a", "absent", "c", "b"]), "1\n\n3\n2");
    assert_eq!(s.cli(&["DEL", "a", "b", "absent"]), "2");
    assert_eq!(s.cli(&["DBSIZE"]), "3"); // k, n, c
    let info = s.cli(&["INFO"]);
    for section in [
        "# Server",
        "# Clients",
        "# Stats",
        "# Keyspace",
        "db0:keys=3,expires=2",
    ] {
        assert!(
            info.contains(section),
            "{section} missing from INFO:\n{info}"
        );
    }
    let keyspace = s.cli(&["INFO", "keyspace"]);
    assert!(
        keyspace.contains("db0:keys=3") && !keyspace.contains("# Server"),
        "{keyspace}"
    );
    assert_eq!(s.cli(&["CONFIG", "GET", "save"]), "save");
    assert_eq!(s.cli(&["CONFIG", "GET", "appendonly"]), "appendonly\nno");
    assert_eq!(s.cli(&["COMMAND"]), "");
    assert_eq!(s.cli(&["CLIENT", "SETNAME", "tester"]), "OK");
    assert_eq!(
        s.cli(&["NOSUCH", "x"]),
        "ERR unknown command 'NOSUCH', with args beginning with: 'x'"
    );
    assert_eq!(
        s.cli(&["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(s.cli(&["FLUSHALL"]), "OK");
    assert_eq!(s.cli(&["DBSIZE"]), "0");
    // QUIT answers OK and closes; the reply reaches redis-cli before the close.
    assert_eq!(s.cli(&["QUIT"]), "OK");
}

#[test]
fn client_name_and_quit_on_one_connection() {
    let s = Server::start();
    let reply = s.round_trip(
        b"CLIENT SETNAME app\r\nCLIENT GETNAME\r\nQUIT\r\nPING\r\n",
        64,
    );
    // PING after QUIT is never answered: the server closed the connection.
    assert_eq!(reply, b"+OK\r\n$3\r\napp\r\n+OK\r\n");
}

#[test]
fn pipelined_commands_are_answered_in_order_across_shards() {
    let s = Server::start();
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 0..500 {
        let key = format!("key{i}");
        request.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$3\r\n{i:03}\r\n",
                key.len()
            )
            .as_bytes(),
        );
        expected.extend_from_slice(b"+OK\r\n");
    }
    for i in 0..500 {
        request.extend_from_slice(format!("GET key{i}\r\n").as_bytes());
        expected.extend_from_slice(format!("$3\r\n{i:03}\r\n").as_bytes());
    }
    request.extend_from_slice(b"DBSIZE\r\n");
    expected.extend_from_slice(b":500\r\n");
    let reply = s.round_trip(&request, expected.len());
    let first_difference = reply.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(
        reply == expected,
        "{} of {} bytes, first difference at {first_difference:?}: {:?}",
        reply.len(),
        expected.len(),
        String::from_utf8_lossy(&reply[first_difference.unwrap_or(0).saturating_sub(20)..])
    );
}

#[test]
fn redis_cli_pipe_mode_loads_keys_onto_every_shard() {
    require!(command("redis-cli"));
    let s = Server::start();
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\nuser:{i}\r\n$1\r\nx\r\n",
                format!("user:{i}").len()
            )
            .as_bytes(),
        );
    }
    let out = s.cli_output(&["--pipe"], Some(&input));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("errors: 0, replies: 1000"),
        "{text}"
    );
    assert_eq!(s.cli(&["DBSIZE"]), "1000");
    let shard0 = s.metric("pincore_keys{shard=\"0\"}");
    let shards = s
        .http_get("/metrics")
        .1
        .lines()
        .filter(|l| l.starts_with("pincore_keys{"))
        .count();
    let mut total = 0.0;
    for shard in 0..shards {
        let keys = s.metric(&format!("pincore_keys{{shard=\"{shard}\"}}"));
        assert!(shards == 1 || keys > 0.0, "shard {shard} owns no key");
        total += keys;
    }
    assert_eq!(total, 1000.0, "shard 0 has {shard0}");
    let mget: Vec<String> = (0..1000).step_by(97).map(|i| format!("user:{i}")).collect();
    let mut args = vec!["MGET"];
    args.extend(mget.iter().map(String::as_str));
    assert_eq!(s.cli(&args), vec!["x"; mget.len()].join("\n"));
}

#[test]
fn binary_keys_and_values_round_trip() {
    let s = Server::start();
    let key = b"bin\x00\r\n\xff";
    let value: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let mut request = Vec::new();
    request.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${}\r\n", key.len()).as_bytes());
    request.extend_from_slice(key);
    request.extend_from_slice(format!("\r\n${}\r\n", value.len()).as_bytes());
    request.extend_from_slice(&value);
    request.extend_from_slice(format!("\r\n*2\r\n$3\r\nGET\r\n${}\r\n", key.len()).as_bytes());
    request.extend_from_slice(key);
    request.extend_from_slice(b"\r\n");
    let mut expected = b"+OK\r\n".to_vec();
    expected.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n");
    assert!(s.round_trip(&request, expected.len()) == expected);
}

#[test]
fn redis_benchmark_runs_without_errors() {
    require!(command("redis-benchmark"));
    let s = Server::start();
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &s.resp.port().to_string()])
        .args([
            "-n",
            "20000",
            "-c",
            "20",
            "-P",
            "4",
            "-t",
            "set,get,ping",
            "-q",
            "--csv",
        ])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{stderr}");
    for test in ["PING_INLINE", "PING_MBULK", "SET", "GET"] {
        assert!(
            text.contains(&format!("\"{test}\"")),
            "{test} missing:\n{text}"
        );
    }
    assert!(!stderr.to_lowercase().contains("error"), "{stderr}");
    // Every request was answered: commands served by the server add up to what was sent.
    let served = s.metric("pincore_commands_total{command=\"set\",shard=\"total\"}");
    assert!(served >= 20000.0, "{served}");
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"malformed\",shard=\"total\"}"),
        0.0
    );
}

#[test]
fn echo_service_returns_every_byte() {
    let s = Server::start();
    let mut stream = std::net::TcpStream::connect(s.echo).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let payload = payload.clone();
        std::thread::spawn(move || stream.write_all(&payload).unwrap())
    };
    let back = read_at_least(&mut stream, payload.len());
    writer.join().unwrap();
    assert!(
        back == payload,
        "echo returned {} of {} bytes",
        back.len(),
        payload.len()
    );
    assert!(
        s.metric("pincore_received_bytes_total{service=\"echo\",shard=\"total\"}")
            >= payload.len() as f64
    );
}
