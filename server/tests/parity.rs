//! Differential parity with Redis 7.0: the same script of string and key commands sent over raw RESP to
//! redis-server and to pincore-server, reply by reply. Replies that depend on the clock or on chance (PTTL,
//! TIME, RANDOMKEY) are compared by shape; everything else, errors included, byte for byte. Pub/sub runs on
//! several connections per server: what each one receives, confirmations and messages, is compared the same
//! way.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use pincore_resp::{skip_reply, Limits};
use pincore_testkit::{command, free_port, require, wait_for_tcp, KillOnDrop};
use support::{Client, Server};

/// How two replies must agree.
#[derive(Clone, Copy)]
enum Check {
    /// Byte for byte.
    Same,
    /// Both integers, at most this far apart (remaining TTLs read a moment apart).
    Near(i64),
    /// The same RESP type and, for aggregates, the same length (TIME, RANDOMKEY).
    Shape,
    /// A flat array of the same elements in any order (KEYS, whose order is each server's table order).
    Unordered,
}

/// redis-server 7 on a free loopback port, persisting nothing.
fn redis_server() -> (KillOnDrop, SocketAddr) {
    let port = free_port();
    let process = KillOnDrop::spawn(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--enable-debug-command", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("spawn redis-server");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_for_tcp(addr, Duration::from_secs(10)).expect("redis-server listening");
    (process, addr)
}

fn integer(reply: &[u8]) -> Option<i64> {
    std::str::from_utf8(reply.strip_prefix(b":")?)
        .ok()?
        .trim_end()
        .parse()
        .ok()
}

/// The elements of a flat array reply (each element's raw encoding), sorted.
fn elements(reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    let limits = Limits {
        max_bulk_len: 1 << 30,
        max_array_len: 1 << 20,
        max_inline_len: 1 << 16,
    };
    let header_end = reply.windows(2).position(|w| w == b"\r\n")?;
    if reply.first() != Some(&b'*') {
        return None;
    }
    let mut rest = &reply[header_end + 2..];
    let mut items = Vec::new();
    while !rest.is_empty() {
        let (len, _) = skip_reply(rest, &limits).ok()??;
        items.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    items.sort();
    Some(items)
}

fn agree(check: Check, redis: &[u8], pincore: &[u8]) -> bool {
    match check {
        Check::Unordered => elements(redis).is_some() && elements(redis) == elements(pincore),
        Check::Same => redis == pincore,
        Check::Near(by) => matches!(
            (integer(redis), integer(pincore)),
            (Some(a), Some(b)) if (a - b).abs() <= by
        ),
        Check::Shape => {
            let head = |r: &[u8]| -> Vec<u8> {
                let line = r.split(|b| *b == b'\n').next().unwrap_or_default();
                // The type byte, and the count for aggregates; a bulk's length is content.
                if matches!(line.first(), Some(b'*' | b'%' | b'~')) || line.starts_with(b"$-1") {
                    line.to_vec()
                } else {
                    line.iter().take(1).copied().collect()
                }
            };
            head(redis) == head(pincore)
        }
    }
}

/// Arguments are space-separated; `\0` stands for a zero byte and `""` for an empty argument.
fn words(line: &str) -> Vec<Vec<u8>> {
    line.split(' ')
        .map(|w| match w {
            "\"\"" => Vec::new(),
            w => w.replace("\\0", "\0").into_bytes(),
        })
        .collect()
}

/// Runs `script` on both servers, one connection each (and a second one for lines starting with `B `),
/// and fails listing every reply that differs. A line `!sleep MS` waits, for both.
fn run(script: &[(Check, &str)], protocol3: bool) {
    run_on(script, protocol3, Server::start)
}

/// [`run`] against the pincore-server `start` starts (redis-server runs with DEBUG allowed).
fn run_on(script: &[(Check, &str)], protocol3: bool, start: fn() -> Server) {
    require!(command("redis-server"));
    let (_redis, redis_addr) = redis_server();
    let pincore = start();
    let mut redis = [Client::connect(redis_addr), Client::connect(redis_addr)];
    let mut ours = [Client::connect(pincore.resp), Client::connect(pincore.resp)];
    if protocol3 {
        for c in redis.iter_mut().chain(ours.iter_mut()) {
            c.call(&[b"HELLO", b"3"]);
        }
    }
    let mut differences = Vec::new();
    for (check, line) in script {
        if let Some(ms) = line.strip_prefix("!sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().expect("!sleep MS")));
            continue;
        }
        let (who, line) = match line.strip_prefix("B ") {
            Some(rest) => (1, rest),
            None => (0, *line),
        };
        let (redis, ours) = (&mut redis[who], &mut ours[who]);
        let words = words(line);
        let args: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        let (a, b) = (redis.call(&args), ours.call(&args));
        if !agree(*check, &a, &b) {
            differences.push(difference(&format!("{}{line}", ["", "B "][who]), &a, &b));
        }
    }
    assert_none(&differences, script.len());
}

/// One step whose replies differ, for the failure message.
fn difference(step: &str, redis: &[u8], pincore: &[u8]) -> String {
    format!(
        "{step}\n  redis:   {:?}\n  pincore: {:?}",
        String::from_utf8_lossy(redis),
        String::from_utf8_lossy(pincore)
    )
}

/// Fails listing every difference of a script of `steps` steps.
fn assert_none(differences: &[String], steps: usize) {
    assert!(
        differences.is_empty(),
        "{} of {steps} steps differ from redis-server's:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

use Check::{Near, Same, Shape, Unordered};

const STRINGS: &[(Check, &str)] = &[
    (Same, "SET s hello"),
    (Same, "APPEND s _world"),
    (Same, "APPEND fresh abc"),
    (Same, "GET fresh"),
    (Same, "STRLEN s"),
    (Same, "STRLEN missing"),
    (Same, "GETRANGE s 0 4"),
    (Same, "GETRANGE s -5 -1"),
    (Same, "GETRANGE s -1 -5"),
    (Same, "GETRANGE s 5 3"),
    (Same, "GETRANGE s -100 100"),
    (Same, "GETRANGE s 0 -100"),
    (Same, "GETRANGE s 9223372036854775807 -9223372036854775808"),
    (Same, "GETRANGE s -9223372036854775808 9223372036854775807"),
    (Same, "GETRANGE missing 0 -1"),
    (Same, "GETRANGE s 0 x"),
    (Same, "GETRANGE s 0"),
    (Same, "SUBSTR s 1 3"),
    (Same, "SETRANGE s 6 Redis"),
    (Same, "GET s"),
    (Same, "SETRANGE pad 5 x"),
    (Same, "GET pad"),
    (Same, "SETRANGE s 20 tail"),
    (Same, "GET s"),
    (Same, "SETRANGE pad -1 x"),
    (Same, "SETRANGE pad x y"),
    (Same, "SETRANGE nothing 3 \"\""),
    (Same, "EXISTS nothing"),
    (Same, "SETRANGE s 0 \"\""),
    (Same, "SETNX s x"),
    (Same, "SETNX nx1 v"),
    (Same, "SETEX e 100 v"),
    (Same, "TTL e"),
    (Same, "SETEX e 0 v"),
    (Same, "SETEX e -5 v"),
    (Same, "SETEX e abc v"),
    (Same, "SETEX e 10"),
    (Same, "PSETEX p 100000 v"),
    (Near(50), "PTTL p"),
    (Same, "PSETEX p 0 v"),
    (Same, "GETSET e v2"),
    (Same, "TTL e"),
    (Same, "GETSET missing3 v"),
    (Same, "GETDEL nx1"),
    (Same, "GETDEL nx1"),
    (Same, "GETEX s"),
    (Same, "GETEX s EX 100"),
    (Same, "TTL s"),
    (Same, "GETEX s PERSIST"),
    (Same, "TTL s"),
    (Same, "GETEX s PX 5000"),
    (Near(50), "PTTL s"),
    (Same, "GETEX s EXAT 4000000000"),
    (Same, "EXPIRETIME s"),
    (Same, "GETEX s PXAT 4000000000123"),
    (Same, "PEXPIRETIME s"),
    (Same, "GETEX s EX 0"),
    (Same, "GETEX s PX 9223372036854775807"),
    (Same, "GETEX s EX 10 PX 10"),
    (Same, "GETEX s EX 10 EX 20"),
    (Same, "TTL s"),
    (Same, "GETEX s PERSIST EX 10"),
    (Same, "GETEX s KEEPTTL"),
    (Same, "GETEX s NX"),
    (Same, "GETEX s EX"),
    (Same, "GETEX missing EX 0"),
    (Same, "GETEX"),
    (Same, "GETEX s EXAT 1"),
    (Same, "EXISTS s"),
    (Same, "SET k v EXAT 4000000000"),
    (Same, "EXPIRETIME k"),
    (Same, "SET k v PXAT 4000000000500"),
    (Same, "PEXPIRETIME k"),
    (Same, "SET k w KEEPTTL"),
    (Same, "PEXPIRETIME k"),
    (Same, "SET k v EXAT 0"),
    (Same, "SET k v EX 10 EXAT 20"),
    (Same, "SET k v PXAT 1 PXAT 2"),
    (Same, "SET k v EX 10000000000000000"),
    (Same, "SET k v EXAT 1"),
    (Same, "EXISTS k"),
    (Same, "SET k v NX GET"),
    (Same, "SET k x XX GET"),
    (Same, "INCRBYFLOAT f 10.5"),
    (Same, "INCRBYFLOAT f 0.1"),
    (Same, "INCRBYFLOAT f -5"),
    // Not `f` again: Redis adds in 80-bit long double, whose noise shows at 17 decimals (5005.60000000000000009)
    // where f64's is hidden; values of up to 15 significant digits agree.
    (Same, "INCRBYFLOAT f2 5.0e3"),
    (Same, "INCRBYFLOAT f2 -0.25"),
    (Same, "INCRBYFLOAT f abc"),
    (Same, "INCRBYFLOAT f \"\""),
    (Same, "INCRBYFLOAT f inf"),
    (Same, "INCRBYFLOAT f nan"),
    (Same, "SET str abc"),
    (Same, "INCRBYFLOAT str 1"),
    (Same, "INCRBYFLOAT tenth 0.1"),
    (Same, "INCRBYFLOAT tenth 0.1"),
    (Same, "INCRBYFLOAT tenth 0.1"),
    (Same, "INCRBYFLOAT tenth -0.3"),
    (Same, "SET big 17179869184"),
    (Same, "INCRBYFLOAT big 1.5"),
    (Same, "SETEX ft 100 1"),
    (Same, "INCRBYFLOAT ft 1"),
    (Same, "TTL ft"),
    (Same, "DECRBY d 5"),
    (Same, "DECRBY d -9223372036854775808"),
    (Same, "DECRBY d abc"),
    (Same, "SET mn -9223372036854775807"),
    (Same, "DECRBY mn 2"),
    (Same, "MSETNX a 1 b 2"),
    (Same, "MSETNX b 3 c 4"),
    (Same, "EXISTS c"),
    (Same, "MGET a b c"),
    (Same, "MSETNX a 1 b"),
    (Same, "MSETNX"),
];

const KEYS: &[(Check, &str)] = &[
    (Same, "SET x v"),
    (Same, "EXPIRE x 100 NX"),
    (Same, "EXPIRE x 200 NX"),
    (Same, "EXPIRE x 50 GT"),
    (Same, "EXPIRE x 200 GT"),
    (Same, "TTL x"),
    (Same, "EXPIRE x 300 LT"),
    (Same, "EXPIRE x 100 LT"),
    (Same, "EXPIRE x 100 XX"),
    (Same, "PERSIST x"),
    (Same, "PERSIST x"),
    (Same, "EXPIRE x 100 XX"),
    (Same, "EXPIRE x 100 GT"),
    (Same, "EXPIRE x 100 LT"),
    (Same, "EXPIRE x 10 NX XX"),
    (Same, "EXPIRE x 10 nx gt"),
    (Same, "EXPIRE x 10 GT LT"),
    (Same, "EXPIRE x 10 FOO"),
    (Same, "EXPIRE x abc"),
    (Same, "EXPIRE x abc NX XX"),
    (Same, "EXPIRE missing 10"),
    (Same, "EXPIRE x 9223370399119966"),
    (Same, "EXPIREAT x 9223372036854776"),
    (Same, "PEXPIRE x 100000"),
    (Near(50), "PTTL x"),
    (Same, "EXPIREAT x 4000000000"),
    (Same, "EXPIRETIME x"),
    (Same, "PEXPIREAT x 4000000000999"),
    (Same, "PEXPIRETIME x"),
    (Same, "EXPIRETIME x"),
    (Same, "PEXPIREAT x 4000000000999 GT"),
    (Same, "PEXPIREAT x 4000000001000 GT"),
    (Same, "EXPIREAT x 1"),
    (Same, "EXISTS x"),
    (Same, "EXPIRETIME missing"),
    (Same, "PTTL missing"),
    (Same, "PERSIST missing"),
    (Same, "SET y v"),
    (Same, "EXPIRETIME y"),
    (Same, "PEXPIRETIME y"),
    (Same, "PTTL y"),
    (Same, "EXPIRE y -1"),
    (Same, "EXISTS y"),
    (Same, "TYPE missing"),
    (Same, "SET s v"),
    (Same, "TYPE s"),
    (Same, "TYPE"),
    (Same, "RENAME s s2"),
    (Same, "GET s2"),
    (Same, "EXISTS s"),
    (Same, "RENAME missing z"),
    (Same, "RENAME missing missing"),
    (Same, "RENAME s2 s2"),
    (Same, "RENAMENX s2 s2"),
    (Same, "SET a 1"),
    (Same, "RENAMENX s2 a"),
    (Same, "RENAMENX s2 renamed"),
    (Same, "RENAMENX missing q"),
    (Same, "RENAME renamed a"),
    (Same, "GET a"),
    (Same, "SETEX t 100 v"),
    (Same, "RENAME t t2"),
    (Same, "TTL t2"),
    (Same, "RENAME t2"),
    (Same, "COPY a acopy"),
    (Same, "GET acopy"),
    (Same, "COPY a acopy"),
    (Same, "SET a 2"),
    (Same, "COPY a acopy REPLACE"),
    (Same, "GET acopy"),
    (Same, "COPY a a"),
    (Same, "COPY missing q"),
    (Same, "COPY a q FOO"),
    (Same, "COPY a q DB x"),
    (Same, "COPY a q DB 0"),
    (Same, "COPY t2 t3"),
    (Same, "TTL t3"),
    (Same, "COPY a"),
    (Same, "UNLINK a q missing"),
    (Same, "UNLINK"),
    (Same, "TOUCH acopy missing acopy"),
    (Shape, "RANDOMKEY"),
    (Same, "RANDOMKEY x"),
    (Shape, "TIME"),
    (Same, "TIME x"),
    (Same, "FLUSHDB x"),
    (Same, "FLUSHDB ASYNC"),
    (Same, "DBSIZE"),
    (Same, "RANDOMKEY"),
    (Same, "SET z v"),
    (Same, "FLUSHDB SYNC"),
    (Same, "FLUSHDB"),
    (Same, "DBSIZE"),
];

/// Nulls and the replies whose encoding RESP3 changes.
const RESP3: &[(Check, &str)] = &[
    (Same, "GETDEL missing"),
    (Same, "GETEX missing"),
    (Same, "GETSET missing v"),
    (Same, "GETSET missing w"),
    (Same, "RANDOMKEY"),
    (Same, "INCRBYFLOAT f 1.5"),
    (Same, "SET k v GET"),
    (Same, "SET k v NX"),
    (Same, "TYPE k"),
    (Shape, "TIME"),
    (Same, "EXPIRE k 10 NX"),
];

/// MULTI, EXEC, DISCARD, WATCH and UNWATCH: every error text, queueing errors that abort EXEC, runtime
/// errors kept in their places, and WATCH touched by the other connection (`B`), by the watcher itself, by
/// FLUSHALL and by expiry, or not touched by writes to other keys.
const TRANSACTIONS: &[(Check, &str)] = &[
    (Same, "EXEC"),
    (Same, "DISCARD"),
    (Same, "EXEC x"),
    (Same, "MULTI x"),
    (Same, "MULTI"),
    (Same, "MULTI"),
    (Same, "WATCH a"),
    (Same, "SET a 1"),
    (Same, "INCR a"),
    (Same, "GET a"),
    (Same, "EXEC"),
    (Same, "MULTI"),
    (Same, "SET s abc"),
    (Same, "INCR s"),
    (Same, "GET s"),
    (Same, "INCRBY a x"),
    (Same, "MSET m1 1 m2"),
    (Same, "EXEC"),
    (Same, "MULTI"),
    (Same, "SET a 9"),
    (Same, "SET a"),
    (Same, "GET a"),
    (Same, "EXEC"),
    (Same, "GET a"),
    (Same, "MULTI"),
    (Same, "NOSUCH x"),
    (Same, "PING"),
    (Same, "EXEC"),
    (Same, "MULTI"),
    (Same, "SET a 9"),
    (Same, "DISCARD"),
    (Same, "GET a"),
    (Same, "MULTI"),
    (Same, "EXEC"),
    (Same, "MULTI"),
    (Same, "SET a 9"),
    (Same, "EXEC x"),
    (Same, "EXEC"),
    (Same, "GET a"),
    (Same, "MULTI"),
    (Same, "DISCARD x"),
    (Same, "EXEC"),
    (Same, "WATCH"),
    (Same, "UNWATCH x"),
    (Same, "UNWATCH"),
    // Watched and changed by the other connection: EXEC runs nothing and says so with a null array.
    (Same, "WATCH w v"),
    (Same, "B SET w 1"),
    (Same, "MULTI"),
    (Same, "SET done 1"),
    (Same, "EXEC"),
    (Same, "EXISTS done"),
    // ...and no longer watched after it.
    (Same, "B SET w 2"),
    (Same, "MULTI"),
    (Same, "GET w"),
    (Same, "EXEC"),
    // Watched, and only other keys written: EXEC runs.
    (Same, "WATCH w"),
    (Same, "B SET other 1"),
    (Same, "B MSET x1 1 x2 2 x3 3 x4 4"),
    (Same, "B GET w"),
    (Same, "MULTI"),
    (Same, "INCR w"),
    (Same, "EXEC"),
    // The watcher's own write counts too; EXPIRE is a change; DEL of a missing key is not.
    (Same, "WATCH w"),
    (Same, "SET w 5"),
    (Same, "MULTI"),
    (Same, "PING"),
    (Same, "EXEC"),
    (Same, "WATCH w"),
    (Same, "B EXPIRE w 100"),
    (Same, "MULTI"),
    (Same, "PING"),
    (Same, "EXEC"),
    (Same, "WATCH nothing"),
    (Same, "B DEL nothing"),
    (Same, "MULTI"),
    (Same, "PING"),
    (Same, "EXEC"),
    // UNWATCH, and DISCARD, forget the watch (and a failed watch's flag).
    (Same, "WATCH w"),
    (Same, "B SET w 6"),
    (Same, "UNWATCH"),
    (Same, "MULTI"),
    (Same, "INCR w"),
    (Same, "EXEC"),
    (Same, "WATCH w"),
    (Same, "B SET w 10"),
    (Same, "MULTI"),
    (Same, "DISCARD"),
    (Same, "MULTI"),
    (Same, "INCR w"),
    (Same, "EXEC"),
    (Same, "WATCH w"),
    (Same, "MULTI"),
    (Same, "UNWATCH"),
    (Same, "PING"),
    (Same, "EXEC"),
    // FLUSHALL touches the watched keys that exist, and only those.
    (Same, "WATCH w"),
    (Same, "B FLUSHALL"),
    (Same, "MULTI"),
    (Same, "PING"),
    (Same, "EXEC"),
    (Same, "WATCH w"),
    (Same, "B FLUSHALL"),
    (Same, "MULTI"),
    (Same, "PING"),
    (Same, "EXEC"),
    // A watched key that expires before EXEC aborts it; one already expired when watched does not.
    (Same, "SET t v PX 100"),
    (Same, "WATCH t"),
    (Same, "!sleep 250"),
    (Same, "MULTI"),
    (Same, "PING"),
    (Same, "EXEC"),
    (Same, "SET t v PX 1"),
    (Same, "!sleep 20"),
    (Same, "WATCH t"),
    (Same, "B EXISTS t"),
    (Same, "MULTI"),
    (Same, "PING"),
    (Same, "EXEC"),
    // RESET ends the transaction and the watches; QUIT inside MULTI is not queued (tested in resp.rs).
    (Same, "WATCH w"),
    (Same, "MULTI"),
    (Same, "SET w 1"),
    (Same, "RESET"),
    (Same, "EXEC"),
    (Same, "B SET w 2"),
    (Same, "MULTI"),
    (Same, "GET w"),
    (Same, "EXEC"),
    (Same, "RESET x"),
    // Whole-keyspace commands and several keys in one transaction.
    (Same, "MULTI"),
    (Same, "MSET k1 1 k2 2 k3 3"),
    (Same, "DBSIZE"),
    (Same, "RENAME k1 k4"),
    (Same, "MGET k1 k2 k3 k4"),
    (Same, "FLUSHDB"),
    (Same, "DBSIZE"),
    (Same, "RANDOMKEY"),
    (Same, "EXEC"),
];

/// RESP3: EXEC aborted by WATCH is a null, the array of replies keeps each reply's RESP3 encoding.
const TRANSACTIONS_RESP3: &[(Check, &str)] = &[
    (Same, "WATCH w"),
    (Same, "B SET w 1"),
    (Same, "MULTI"),
    (Same, "GET w"),
    (Same, "EXEC"),
    (Same, "MULTI"),
    (Same, "GET missing"),
    (Same, "INCRBYFLOAT f 1.5"),
    (Same, "SET w v GET"),
    (Same, "EXEC"),
    (Same, "MULTI"),
    (Same, "SET w"),
    (Same, "EXEC"),
    (Same, "RESET"),
    (Same, "GET missing"),
];

/// KEYS patterns, SCAN's arguments, OBJECT, LCS, CLIENT, CONFIG GET and the commands pincore declines.
const INTROSPECTION: &[(Check, &str)] = &[
    (
        Same,
        "MSET hello 1 hallo 2 hxllo 3 hllo 4 heeeello 5 h*llo 6 h]llo 7 key:1 a key:2 b other c",
    ),
    (Unordered, "KEYS *"),
    (Unordered, "KEYS h?llo"),
    (Unordered, "KEYS h*llo"),
    (Unordered, "KEYS h[ae]llo"),
    (Unordered, "KEYS h[^e]llo"),
    (Unordered, "KEYS h[a-b]llo"),
    (Unordered, "KEYS h[b-a]llo"),
    (Unordered, "KEYS h\\*llo"),
    (Unordered, "KEYS h[\\]]llo"),
    (Unordered, "KEYS key:*"),
    (Unordered, "KEYS *:[12]"),
    (Unordered, "KEYS h[a"),
    (Same, "KEYS nothing*"),
    (Same, "KEYS"),
    (Same, "SCAN x"),
    (Same, "SCAN 0 COUNT 0"),
    (Same, "SCAN 0 COUNT x"),
    (Same, "SCAN 0 COUNT"),
    (Same, "SCAN 0 FOO bar"),
    (Same, "SCAN 0 MATCH nothing* COUNT 1000"),
    (Same, "SCAN 0 TYPE hash COUNT 1000"),
    (Same, "SCAN"),
    (Same, "SET int 12345"),
    (Same, "SET neg -12"),
    (Same, "SET zero 0"),
    (Same, "SET big 123456789012345678901"),
    (Same, "SET short abc"),
    (
        Same,
        "SET edge 12345678901234567890123456789012345678901234",
    ),
    (
        Same,
        "SET long 123456789012345678901234567890123456789012345",
    ),
    (Same, "SET padded 007"),
    (Same, "OBJECT ENCODING int"),
    (Same, "OBJECT ENCODING neg"),
    (Same, "OBJECT ENCODING big"),
    (Same, "OBJECT ENCODING short"),
    (Same, "OBJECT ENCODING edge"),
    (Same, "OBJECT ENCODING long"),
    (Same, "OBJECT ENCODING padded"),
    (Same, "OBJECT ENCODING missing"),
    (Same, "APPEND short d"),
    (Same, "OBJECT ENCODING short"),
    (Same, "APPEND fresh 42"),
    (Same, "OBJECT ENCODING fresh"),
    (Same, "SETRANGE int 0 9"),
    (Same, "OBJECT ENCODING int"),
    (Same, "SET short abc"),
    (Same, "OBJECT ENCODING short"),
    (Same, "INCR counter"),
    (Same, "OBJECT ENCODING counter"),
    (Same, "INCRBYFLOAT fl 2"),
    (Same, "OBJECT ENCODING fl"),
    (Same, "INCR fl"),
    (Same, "OBJECT ENCODING fl"),
    (Same, "SETEX short 100 abc"),
    (Same, "APPEND short d"),
    (Same, "EXPIRE short 200"),
    (Same, "OBJECT ENCODING short"),
    (Same, "OBJECT REFCOUNT zero"),
    (Same, "OBJECT REFCOUNT neg"),
    (Same, "OBJECT REFCOUNT short"),
    (Same, "OBJECT REFCOUNT missing"),
    (Same, "OBJECT IDLETIME short"),
    (Same, "OBJECT FREQ short"),
    (Same, "OBJECT HELP"),
    (Same, "OBJECT help x"),
    (Same, "OBJECT ENCODING"),
    (Same, "OBJECT ENCODING a b"),
    (Same, "OBJECT FOO x"),
    (Same, "OBJECT"),
    (Same, "MSET a ohmytext b mynewtext"),
    (Same, "LCS a b"),
    (Same, "LCS a b LEN"),
    (Same, "LCS a b IDX"),
    (Same, "LCS a b IDX MINMATCHLEN 4"),
    (Same, "LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN"),
    (Same, "LCS a b IDX WITHMATCHLEN MINMATCHLEN -5"),
    (Same, "LCS a b LEN IDX"),
    (Same, "LCS a b MINMATCHLEN"),
    (Same, "LCS a b MINMATCHLEN x"),
    (Same, "LCS a b FOO"),
    (Same, "LCS a missing"),
    (Same, "LCS missing missing LEN"),
    (Same, "LCS a"),
    (Same, "CLIENT SETNAME parity"),
    (Same, "CLIENT GETNAME"),
    (Same, "CLIENT SETNAME \"\""),
    (Same, "CLIENT GETNAME"),
    (Same, "CLIENT SETNAME has\0zero"),
    (Same, "CLIENT SETNAME"),
    (Shape, "CLIENT ID"),
    (Same, "CLIENT ID x"),
    (Same, "CLIENT FOO"),
    (Same, "CLIENT"),
    (Same, "CLIENT REPLY"),
    (Same, "CLIENT REPLY MAYBE"),
    (Same, "CLIENT NO-EVICT maybe"),
    (Same, "CLIENT NO-EVICT on"),
    (Same, "CLIENT NO-EVICT off"),
    (Same, "CLIENT KILL"),
    (Same, "CLIENT KILL 1.2.3.4:5"),
    (Same, "CLIENT KILL ID 0"),
    (Same, "CLIENT KILL ID x"),
    (Same, "CLIENT KILL ID 999999"),
    (Same, "CLIENT KILL ADDR 1.2.3.4:5"),
    (Same, "CLIENT KILL USER nobody"),
    (Same, "CLIENT KILL USER default SKIPME maybe"),
    (Same, "CLIENT KILL FOO bar"),
    (Same, "CLIENT KILL ID 1 SKIPME"),
    (Same, "CONFIG GET maxmemory"),
    (Same, "CONFIG GET maxmemory-policy"),
    (Same, "CONFIG GET maxmemory-p*"),
    (Same, "CONFIG GET MAXMEMORY"),
    (Same, "CONFIG GET save"),
    (Same, "CONFIG GET appendonly"),
    (Same, "CONFIG GET no-such-parameter"),
    (Same, "CONFIG GET"),
    (Same, "CONFIG SET"),
    (Same, "CONFIG SET maxmemory"),
    (Same, "CONFIG SET maxmemory 1 maxmemory-policy"),
    (Same, "CONFIG SET no-such-parameter 1"),
    (Same, "CONFIG SET maxmemory 1mb maxmemory 2mb"),
    (Same, "CONFIG SET maxmemory-policy allkeys-lru"),
    (Same, "CONFIG GET maxmemory-policy"),
    (Same, "CONFIG SET maxmemory-policy noeviction"),
    (Same, "CONFIG RESETSTAT"),
    (Same, "CONFIG RESETSTAT x"),
    (Same, "CONFIG FOO"),
    (Same, "CONFIG"),
    (Same, "FUNCTION FLUSH"),
    (Same, "FUNCTION FLUSH SYNC"),
];

/// RESP3 encodings of the introspection replies that have one (LCS IDX is a map, a missing key's OBJECT
/// a null).
const INTROSPECTION_RESP3: &[(Check, &str)] = &[
    (Same, "MSET a ohmytext b mynewtext"),
    (Same, "LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN"),
    (Same, "OBJECT ENCODING missing"),
    (Same, "CLIENT GETNAME"),
    (Same, "CONFIG GET maxmemory"),
];

/// DEBUG's subcommands that pincore-server has, in both protocols (HELLO switches).
const DEBUG: &[(Check, &str)] = &[
    (Same, "DEBUG PROTOCOL string"),
    (Same, "DEBUG PROTOCOL integer"),
    (Same, "DEBUG PROTOCOL double"),
    (Same, "DEBUG PROTOCOL bignum"),
    (Same, "DEBUG PROTOCOL null"),
    (Same, "DEBUG PROTOCOL array"),
    (Same, "DEBUG PROTOCOL set"),
    (Same, "DEBUG PROTOCOL map"),
    (Same, "DEBUG PROTOCOL attrib"),
    (Same, "DEBUG PROTOCOL push"),
    (Same, "DEBUG PROTOCOL verbatim"),
    (Same, "DEBUG PROTOCOL true"),
    (Same, "DEBUG PROTOCOL FALSE"),
    (Same, "DEBUG PROTOCOL nope"),
    (Same, "DEBUG PROTOCOL"),
    (Same, "DEBUG nope"),
    (Same, "DEBUG SET-ACTIVE-EXPIRE"),
    (Same, "DEBUG SET-ACTIVE-EXPIRE 0"),
    (Same, "DEBUG SET-ACTIVE-EXPIRE 1"),
    (Same, "DEBUG SLEEP 0"),
    (Same, "DEBUG SLEEP 0.01"),
    (Same, "DEBUG"),
    (Same, "CONFIG GET enable-debug-command"),
    (Same, "CONFIG GET *debug*"),
    (Same, "CONFIG SET enable-debug-command no"),
];

/// pincore-server with DEBUG allowed.
fn debug_enabled() -> Server {
    Server::start_from(
        &support::config_text(support::DEFAULT_LIMITS, support::DEFAULT_TIMEOUTS).replace(
            "resp: {listen: 127.0.0.1:0}",
            "resp: {listen: 127.0.0.1:0, settings: {enable_debug_command: true}}",
        ),
        &[],
    )
}

#[test]
fn debug_replies_as_redis_does() {
    run_on(DEBUG, false, debug_enabled);
    run_on(DEBUG, true, debug_enabled);
}

#[test]
fn introspection_commands_reply_as_redis_does() {
    run(INTROSPECTION, false);
}

#[test]
fn introspection_replies_are_encoded_in_resp3_as_redis_encodes_them() {
    run(INTROSPECTION_RESP3, true);
}

/// A full SCAN (MATCH and COUNT varied) returns exactly the keys there are, on both servers.
#[test]
fn a_full_scan_returns_every_key_as_redis_does() {
    require!(command("redis-server"));
    let (_redis, redis_addr) = redis_server();
    let pincore = Server::start();
    for addr in [redis_addr, pincore.resp] {
        let mut c = Client::connect(addr);
        for chunk in 0..20 {
            let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
            for i in chunk * 500..(chunk + 1) * 500 {
                args.push(format!("key:{i}").into_bytes());
                args.push(b"v".to_vec());
            }
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            assert_eq!(c.call(&args), b"+OK\r\n");
        }
    }
    for (pattern, count) in [
        ("*", "10"),
        ("key:1*", "100"),
        ("*7", "1"),
        ("key:[0-4]?", "1000"),
    ] {
        let scan = |addr: SocketAddr| -> Vec<Vec<u8>> {
            let mut c = Client::connect(addr);
            let mut cursor = b"0".to_vec();
            let mut keys = Vec::new();
            for _ in 0..100_000 {
                let reply = c.call(&[
                    b"SCAN",
                    &cursor,
                    b"MATCH",
                    pattern.as_bytes(),
                    b"COUNT",
                    count.as_bytes(),
                ]);
                let (next, batch) = scan_reply(&reply);
                keys.extend(batch);
                cursor = next;
                if cursor == b"0" {
                    break;
                }
            }
            assert_eq!(cursor, b"0", "the scan of {pattern} did not end");
            keys.sort();
            keys.dedup();
            keys
        };
        let (theirs, ours) = (scan(redis_addr), scan(pincore.resp));
        assert!(!theirs.is_empty());
        assert_eq!(theirs, ours, "SCAN MATCH {pattern} COUNT {count}");
    }
}

/// The cursor and the keys of a SCAN reply.
fn scan_reply(reply: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let text = reply
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect::<Vec<_>>();
    // *2, $len, cursor, *n, then $len / key pairs.
    assert_eq!(text[0], b"*2", "{:?}", String::from_utf8_lossy(reply));
    let cursor = text[2].to_vec();
    let keys = text[4..]
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| pair[1].to_vec())
        .collect();
    (cursor, keys)
}

#[test]
fn string_commands_reply_as_redis_does() {
    run(STRINGS, false);
}

#[test]
fn key_commands_reply_as_redis_does() {
    run(KEYS, false);
}

#[test]
fn resp3_replies_are_encoded_as_redis_encodes_them() {
    run(RESP3, true);
}

#[test]
fn transactions_reply_as_redis_does() {
    run(TRANSACTIONS, false);
}

#[test]
fn transactions_reply_in_resp3_as_redis_does() {
    run(TRANSACTIONS_RESP3, true);
}

/// APPEND and SETRANGE are bounded by pincore's `limits.max_bulk_len` where Redis's bound is
/// `proto-max-bulk-len`: the same refusal, naming the setting that applies.
#[test]
fn values_cannot_outgrow_the_bulk_limit() {
    let s = Server::start_with("  max_bulk_len: 1024\n", support::DEFAULT_TIMEOUTS);
    let mut c = Client::connect(s.resp);
    let refused: &[u8] = b"-ERR string exceeds maximum allowed size (limits.max_bulk_len)\r\n";
    assert_eq!(c.call(&[b"SETRANGE", b"k", b"1024", b"x"]), refused);
    assert_eq!(
        c.call(&[b"SETRANGE", b"k", b"9223372036854775807", b"x"]),
        refused
    );
    assert_eq!(c.call(&[b"SETRANGE", b"k", b"1023", b"x"]), b":1024\r\n");
    assert_eq!(c.call(&[b"APPEND", b"k", b"y"]), refused);
    assert_eq!(c.call(&[b"APPEND", b"k", b""]), b":1024\r\n");
    assert_eq!(c.call(&[b"STRLEN", b"k"]), b":1024\r\n");
}

/// One step of a pub/sub script on connection `.0`: send the command `.1` (none when empty) and read `.2`
/// replies, confirmations and messages alike.
type Step = (usize, &'static str, usize);

/// Runs a pub/sub `script` with `connections` connections per server and compares what each step read.
fn run_pubsub(script: &[Step], connections: usize, protocol3: bool) {
    require!(command("redis-server"));
    let (_redis, redis_addr) = redis_server();
    let pincore = Server::start();
    let mut redis: Vec<Client> = (0..connections)
        .map(|_| Client::connect(redis_addr))
        .collect();
    let mut ours: Vec<Client> = (0..connections)
        .map(|_| Client::connect(pincore.resp))
        .collect();
    if protocol3 {
        for c in redis.iter_mut().chain(ours.iter_mut()) {
            c.call(&[b"HELLO", b"3"]);
        }
    }
    let mut differences = Vec::new();
    for &(connection, line, replies) in script {
        let words = if line.is_empty() {
            Vec::new()
        } else {
            words(line)
        };
        let args: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        let step = |c: &mut Client| {
            if args.is_empty() {
                c.receive(replies, &[b"(waiting for a message)"])
            } else {
                c.call_n(&args, replies)
            }
        };
        let (a, b) = (step(&mut redis[connection]), step(&mut ours[connection]));
        if a != b {
            differences.push(difference(&format!("{connection}: {line}"), &a, &b));
        }
    }
    assert_none(&differences, script.len());
}

/// Connection 0 subscribes to channels, 1 publishes, 2 subscribes to patterns. Where Redis's order is its
/// hash table's (UNSUBSCRIBE without arguments, PUBSUB CHANNELS), a step has at most one name to list.
const PUBSUB: &[Step] = &[
    (0, "SUBSCRIBE news sport", 2),
    (0, "SUBSCRIBE news", 1),
    (2, "PSUBSCRIBE n* h[ae]llo", 2),
    (1, "PUBLISH news hello", 1),
    (0, "", 1),
    (2, "", 1),
    (1, "PUBLISH sport goal", 1),
    (0, "", 1),
    (1, "PUBLISH nothing x", 1),
    (2, "", 1),
    (1, "PUBLISH hallo \"\"", 1),
    (2, "", 1),
    (1, "PUBLISH other x", 1),
    (1, "PUBSUB NUMSUB news sport other", 1),
    (1, "PUBSUB NUMSUB", 1),
    (1, "PUBSUB NUMPAT", 1),
    (1, "PUBSUB CHANNELS s*", 1),
    (1, "PUBSUB CHANNELS x*", 1),
    (1, "PUBSUB", 1),
    (1, "PUBSUB NUMPAT x", 1),
    (1, "PUBSUB CHANNELS a b", 1),
    (1, "PUBSUB FOO", 1),
    (1, "PUBLISH news", 1),
    (0, "GET k", 1),
    (0, "CONFIG GET maxmemory", 1),
    (0, "PUBLISH news x", 1),
    (0, "GET", 1),
    (0, "NOSUCHCOMMAND", 1),
    (0, "PING", 1),
    (0, "PING hi", 1),
    (0, "UNSUBSCRIBE sport missing", 2),
    (0, "UNSUBSCRIBE", 1),
    (0, "UNSUBSCRIBE", 1),
    (0, "PUNSUBSCRIBE", 1),
    (0, "PING", 1),
    (0, "GET k", 1),
    (1, "PUBSUB NUMSUB news", 1),
    (2, "PUNSUBSCRIBE n* x*", 2),
    (1, "PUBSUB NUMPAT", 1),
    (2, "PUNSUBSCRIBE", 1),
    (0, "SUBSCRIBE", 1),
    (0, "SUBSCRIBE a", 1),
    (0, "PSUBSCRIBE b*", 1),
    (0, "UNSUBSCRIBE", 1),
    (0, "RESET", 1),
    (1, "PUBSUB NUMPAT", 1),
    (1, "PUBLISH bee x", 1),
    (0, "SUBSCRIBE z", 1),
    (0, "QUIT", 1),
];

/// In RESP3 confirmations and messages are push messages, and a subscribed connection runs any command.
const PUBSUB_RESP3: &[Step] = &[
    (0, "SUBSCRIBE news", 1),
    (2, "PSUBSCRIBE n*", 1),
    (1, "PUBLISH news hello", 1),
    (0, "", 1),
    (2, "", 1),
    (0, "SET k v", 1),
    (0, "GET k", 1),
    (0, "GET missing", 1),
    (0, "PING", 1),
    (0, "PUBLISH news self", 2),
    (2, "", 1),
    (0, "PUBSUB NUMSUB news", 1),
    (0, "UNSUBSCRIBE news", 1),
    (0, "UNSUBSCRIBE", 1),
    (2, "PUNSUBSCRIBE", 1),
    (2, "PUNSUBSCRIBE", 1),
    (1, "PUBLISH news x", 1),
    // With CLIENT REPLY OFF, confirmations and messages still arrive: in RESP3 they are pushes.
    (1, "CLIENT REPLY OFF", 0),
    (1, "SUBSCRIBE quiet", 1),
    (1, "PSUBSCRIBE q*", 1),
    (0, "PUBLISH quiet hi", 1),
    (1, "", 2),
    (1, "UNSUBSCRIBE quiet", 1),
    (1, "GET k", 0),
    (1, "CLIENT REPLY ON", 1),
    (1, "PUNSUBSCRIBE", 1),
];

#[test]
fn pubsub_replies_and_messages_are_redis_s_in_resp2() {
    run_pubsub(PUBSUB, 3, false);
}

#[test]
fn pubsub_replies_and_messages_are_redis_s_in_resp3() {
    run_pubsub(PUBSUB_RESP3, 3, true);
}
