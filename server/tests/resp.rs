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
        "# Memory",
        "# Persistence",
        "loading:0",
        "# Stats",
        "keyspace_hits:",
        "expired_keys:",
        "# CPU",
        "used_cpu_sys:",
        "# Keyspace",
        "db0:keys=3,expires=2",
    ] {
        assert!(
            info.contains(section),
            "{section} missing from INFO:\n{info}"
        );
    }
    let headers = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| l.trim_end().to_string())
            .collect()
    };
    // As in Redis, `everything` adds commandstats to the default sections.
    let mut everything = headers(&info);
    let keyspace_at = everything.len() - 1;
    everything.insert(keyspace_at, "# Commandstats".to_string());
    assert_eq!(headers(&s.cli(&["INFO", "everything"])), everything);
    assert_eq!(
        headers(&s.cli(&["INFO", "cpu", "MEMORY"])),
        ["# Memory", "# CPU"]
    );
    let keyspace = s.cli(&["INFO", "keyspace"]);
    assert!(
        keyspace.contains("db0:keys=3") && !keyspace.contains("# Server"),
        "{keyspace}"
    );
    assert_eq!(s.cli(&["CONFIG", "GET", "save"]), "save");
    assert_eq!(s.cli(&["CONFIG", "GET", "appendonly"]), "appendonly\nno");
    assert!(s.cli(&["COMMAND", "INFO", "get"]).contains("readonly"));
    assert_eq!(s.cli(&["COMMAND", "COUNT"]), "190");
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
fn quit_inside_multi_closes_without_running_the_queue() {
    let s = Server::start();
    let reply = s.round_trip(b"MULTI\r\nSET k v\r\nQUIT\r\nEXEC\r\n", 64);
    assert_eq!(reply, b"+OK\r\n+QUEUED\r\n+OK\r\n");
    assert_eq!(s.round_trip(b"EXISTS k\r\n", 4), b":0\r\n");
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

/// One pipeline mixing keys of every shard with same-key sequences, local commands and multi-key fan-outs:
/// each reply must match a model that executes the commands one by one.
#[test]
fn mixed_local_remote_and_fan_out_pipeline_keeps_order() {
    let s = Server::start();
    let mut model: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let mut request = Vec::new();
    let mut expected = Vec::new();
    let bulk = |v: Option<&i64>| match v {
        Some(n) => format!("${}\r\n{n}\r\n", n.to_string().len()),
        None => "$-1\r\n".to_string(),
    };
    for i in 0..300i64 {
        let key = format!("c{i}");
        let half = format!("c{}", i / 2);
        request.extend_from_slice(
            format!("SET {key} {i}\r\nINCR {key}\r\nPING\r\nGET {key}\r\n").as_bytes(),
        );
        model.insert(key.clone(), i + 1);
        expected.extend_from_slice(
            format!("+OK\r\n:{}\r\n+PONG\r\n{}", i + 1, bulk(Some(&(i + 1)))).as_bytes(),
        );
        request.extend_from_slice(format!("MGET {key} {half}\r\nINCR {half}\r\n").as_bytes());
        expected.extend_from_slice(
            format!("*2\r\n{}{}", bulk(model.get(&key)), bulk(model.get(&half))).as_bytes(),
        );
        let next = model.get(&half).copied().unwrap_or(0) + 1;
        model.insert(half.clone(), next);
        expected.extend_from_slice(format!(":{next}\r\n").as_bytes());
        if i % 50 == 7 {
            request.extend_from_slice(
                format!("DEL {key} nokey\r\nEXISTS {key}\r\nGET {half}\r\n").as_bytes(),
            );
            model.remove(&key);
            expected
                .extend_from_slice(format!(":1\r\n:0\r\n{}", bulk(model.get(&half))).as_bytes());
        }
    }
    request.extend_from_slice(b"DBSIZE\r\n");
    expected.extend_from_slice(format!(":{}\r\n", model.len()).as_bytes());
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

/// Commands that arrive in many pieces (a value larger than the initial read buffer in odd-sized chunks, a
/// command one byte at a time) are parsed whole and answered once, in order.
#[test]
fn commands_arriving_in_pieces_are_answered_once() {
    let s = Server::start();
    let value: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut request = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    request.extend_from_slice(&value);
    request.extend_from_slice(
        b"\r\nSTRLEN big\r\nSET small 7\r\n*2\r\n$3\r\nGET\r\n$5\r\nsmall\r\nGET big\r\n",
    );
    let mut expected = b"+OK\r\n:100000\r\n+OK\r\n$1\r\n7\r\n".to_vec();
    expected.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n");
    let mut stream = s.connect();
    stream.set_nodelay(true).unwrap();
    let (big, tail) = request.split_at(value.len() + 30);
    for piece in big.chunks(7919) {
        stream.write_all(piece).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for byte in tail {
        stream.write_all(&[*byte]).unwrap();
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    let reply = read_at_least(&mut stream, expected.len());
    assert_eq!(
        reply.len(),
        expected.len(),
        "{}",
        String::from_utf8_lossy(&reply[..reply.len().min(300)])
    );
    assert!(
        reply == expected,
        "{}",
        String::from_utf8_lossy(&reply[..300])
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
