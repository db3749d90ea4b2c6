//! Differential parity with Redis 7.0: the same script of string and key commands sent over raw RESP to
//! redis-server and to pincore-server, reply by reply. Replies that depend on the clock or on chance (PTTL,
//! TIME, RANDOMKEY) are compared by shape; everything else, errors included, byte for byte. Pub/sub runs on
//! several connections per server: what each one receives, confirmations and messages, is compared the same
//! way.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use pincore_resp::{skip_reply, Limits};
use pincore_testkit::{command, require};
use support::{redis_server, Client, Server};

/// How two replies must agree.
#[derive(Clone, Copy)]
enum Check {
    /// Byte for byte.
    Same,
    /// Both integers, at most this far apart (remaining TTLs read a moment apart).
    Near(i64),
    /// The same RESP type and, for aggregates, the same length (TIME, RANDOMKEY).
    Shape,
    /// The same aggregate in any order (KEYS, whose order is each server's table order; members of a set,
    /// or of a hash past its compact size, which come in hash-table order).
    Unordered,
}

fn integer(reply: &[u8]) -> Option<i64> {
    std::str::from_utf8(reply.strip_prefix(b":")?)
        .ok()?
        .trim_end()
        .parse()
        .ok()
}

/// The header line of an aggregate and its elements (each element's raw encoding), sorted; `None` if the
/// reply is not an aggregate of whole replies.
fn sorted_elements(reply: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let limits = Limits {
        max_bulk_len: 1 << 30,
        max_array_len: 1 << 20,
        max_inline_len: 1 << 16,
    };
    let header_end = reply.windows(2).position(|w| w == b"\r\n")?;
    if !matches!(reply.first(), Some(b'*' | b'~' | b'%')) {
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
    Some((reply[..header_end].to_vec(), items))
}

fn agree(check: Check, redis: &[u8], pincore: &[u8]) -> bool {
    match check {
        Check::Unordered => {
            sorted_elements(redis).is_some() && sorted_elements(redis) == sorted_elements(pincore)
        }
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
    (Same, "SETBIT bits 7 1"),
    (Same, "GET bits"),
    (Same, "SETBIT bits 7 1"),
    (Same, "SETBIT bits 0 1"),
    (Same, "GETBIT bits 0"),
    (Same, "GETBIT bits 1"),
    (Same, "GETBIT bits 100"),
    (Same, "SETBIT bits 20 1"),
    (Same, "STRLEN bits"),
    (Same, "SETBIT bits 7 0"),
    (Same, "GET bits"),
    (Same, "SETBIT s 3 1"),
    (Same, "GET s"),
    (Same, "GETBIT missing 5"),
    (Same, "SETBIT bits -1 1"),
    (Same, "SETBIT bits 4294967296 1"),
    (Same, "SETBIT bits x 1"),
    (Same, "SETBIT bits 1 2"),
    (Same, "SETBIT bits 1 -1"),
    (Same, "GETBIT bits -1"),
    (Same, "GETBIT bits 4294967296"),
    (Same, "SETBIT bits 1"),
    (Same, "SET n 10"),
    (Same, "SETBIT n 0 1"),
    (Same, "GET n"),
    (Same, "RPUSH notastring a"),
    (Same, "SETBIT notastring 0 1"),
    (Same, "GETBIT notastring 0"),
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
    // A value written with 17 decimals reads back whole: adding its opposite comes back to 0, never -0.
    (Same, "INCRBYFLOAT nz 0.024390243902439025"),
    (Same, "INCRBYFLOAT nz -0.024390243902439025"),
    (Same, "GET nz"),
    (Same, "INCRBYFLOAT nz -0.1"),
    (Same, "INCRBYFLOAT nz 0.1"),
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

/// Every kind of value, TYPE, and WRONGTYPE from commands of every family (string commands included),
/// and the generic commands on collections.
const TYPES: &[(Check, &str)] = &[
    (Same, "HSET h f v"),
    (Same, "RPUSH l a b"),
    (Same, "SADD s m"),
    (Same, "SET str v"),
    (Same, "TYPE h"),
    (Same, "TYPE l"),
    (Same, "TYPE s"),
    (Same, "TYPE str"),
    (Same, "TYPE missing"),
    (Same, "GET h"),
    (Same, "GET l"),
    (Same, "STRLEN s"),
    (Same, "APPEND h x"),
    (Same, "INCR l"),
    (Same, "INCRBY s 2"),
    (Same, "DECR h"),
    (Same, "INCRBYFLOAT h 1"),
    (Same, "GETRANGE h 0 1"),
    (Same, "SETRANGE l 0 x"),
    (Same, "GETSET h v"),
    (Same, "GETDEL l"),
    (Same, "GETEX s EX 10"),
    (Same, "GETEX s EX 0"),
    (Same, "TTL s"),
    (Same, "SET h v GET"),
    (Same, "TYPE h"),
    (Same, "MGET h l s str"),
    (Same, "HGET l f"),
    (Same, "HSET str f v"),
    (Same, "LPUSH h x"),
    (Same, "LRANGE s 0 -1"),
    (Same, "SADD l x"),
    (Same, "SMEMBERS h"),
    (Same, "SINTER s l"),
    (Same, "SUNION s str"),
    (Same, "SDIFF missing h"),
    (Same, "LMOVE l s LEFT LEFT"),
    (Same, "LMOVE s l LEFT LEFT"),
    (Same, "SMOVE s l m"),
    (Same, "EXISTS h l s str missing"),
    (Same, "EXPIRE h 100"),
    (Same, "TTL h"),
    (Same, "PERSIST h"),
    (Same, "TTL h"),
    (Same, "RENAME h h2"),
    (Same, "HGETALL h2"),
    (Same, "TYPE h"),
    (Same, "EXPIRE l 100"),
    (Same, "RENAME l l2"),
    (Same, "TTL l2"),
    (Same, "LRANGE l2 0 -1"),
    (Same, "COPY l2 l3"),
    (Same, "TTL l3"),
    (Same, "RPUSH l3 c"),
    (Same, "LRANGE l3 0 -1"),
    (Same, "LRANGE l2 0 -1"),
    (Same, "COPY s str"),
    (Same, "COPY s str REPLACE"),
    (Same, "TYPE str"),
    (Same, "SMEMBERS str"),
    (Same, "SET s plain"),
    (Same, "TYPE s"),
    (Same, "GET s"),
    (Same, "DBSIZE"),
    (Same, "HDEL h2 f"),
    (Same, "EXISTS h2"),
    (Same, "LPOP l2 5"),
    (Same, "EXISTS l2"),
    (Same, "SREM str m"),
    (Same, "EXISTS str"),
    (Same, "UNLINK l3 s"),
    (Same, "DBSIZE"),
    (Same, "HSET h f v"),
    (Same, "EXPIRE h 0"),
    (Same, "EXISTS h"),
    (Same, "ZADD zs 1 m"),
    (Same, "TYPE zs"),
    (Same, "INCR zs"),
    (Same, "HGET zs m"),
    (Same, "LPUSH zs x"),
    (Same, "ZSCORE l2 x"),
    (Same, "DEL zs"),
    (Same, "RPUSH only x"),
    (Same, "RANDOMKEY"),
    (Same, "FLUSHALL"),
    (Same, "DBSIZE"),
];

const HASHES: &[(Check, &str)] = &[
    (Same, "HSET h a 1 b 2 c 3"),
    (Same, "HSET h a 10 d 4"),
    (Same, "HSET h a"),
    (Same, "HSET h a 1 b"),
    (Same, "HMSET h e 5"),
    (Same, "HMSET h e"),
    (Same, "HSETNX h a x"),
    (Same, "HSETNX h z 26"),
    (Same, "HGET h a"),
    (Same, "HGET h nope"),
    (Same, "HGET nokey a"),
    (Same, "HMGET h a nope b"),
    (Same, "HMGET nokey a b"),
    (Same, "HGETALL h"),
    (Same, "HGETALL nokey"),
    (Same, "HKEYS h"),
    (Same, "HVALS h"),
    (Same, "HKEYS nokey"),
    (Same, "HLEN h"),
    (Same, "HLEN nokey"),
    (Same, "HEXISTS h a"),
    (Same, "HEXISTS h nope"),
    (Same, "HEXISTS nokey a"),
    (Same, "HSTRLEN h a"),
    (Same, "HSTRLEN h nope"),
    (Same, "HDEL h a nope b"),
    (Same, "HDEL h nope"),
    (Same, "HDEL nokey a"),
    (Same, "HGETALL h"),
    (Same, "HINCRBY h n 5"),
    (Same, "HINCRBY h n -7"),
    (Same, "HINCRBY h n x"),
    (Same, "HINCRBY h n 9223372036854775807"),
    (Same, "HSET h big 9223372036854775807"),
    (Same, "HINCRBY h big 1"),
    (Same, "HINCRBY h e 1"),
    (Same, "HSET h word abc"),
    (Same, "HINCRBY h word 1"),
    (Same, "HINCRBY newh n 3"),
    (Same, "HINCRBYFLOAT h f 10.5"),
    (Same, "HINCRBYFLOAT h f 0.1"),
    (Same, "HINCRBYFLOAT h f -5"),
    (Same, "HINCRBYFLOAT h nz 0.024390243902439025"),
    (Same, "HINCRBYFLOAT h nz -0.024390243902439025"),
    (Same, "HINCRBYFLOAT h f abc"),
    (Same, "HINCRBYFLOAT h word 1"),
    (Same, "HINCRBYFLOAT h f inf"),
    (Same, "HINCRBYFLOAT h z 1.5"),
    (Same, "HGET h z"),
    (Same, "HGETALL h"),
    (Shape, "HRANDFIELD h"),
    (Same, "HRANDFIELD nokey"),
    (Same, "HRANDFIELD nokey 3"),
    (Same, "HRANDFIELD h 0"),
    (Unordered, "HRANDFIELD h 100"),
    (Unordered, "HRANDFIELD h 100 WITHVALUES"),
    (Shape, "HRANDFIELD h 3"),
    (Shape, "HRANDFIELD h -20"),
    (Shape, "HRANDFIELD h -5 WITHVALUES"),
    (Same, "HRANDFIELD h 3 WITHSCORES"),
    (Same, "HRANDFIELD h x"),
    (Same, "HRANDFIELD h 1 WITHVALUES x"),
    (Same, "HRANDFIELD h -9223372036854775808"),
    (Same, "HRANDFIELD h -9223372036854775807 WITHVALUES"),
    (
        Same,
        "HSET long f 0123456789012345678901234567890123456789012345678901234567890123456789",
    ),
    (Same, "HGET long f"),
    (Same, "HSET long g 1"),
    (Same, "HDEL long f"),
    (Same, "HGETALL long"),
    (Same, "HGET"),
    (Same, "HGETALL"),
];

const LISTS: &[(Check, &str)] = &[
    (Same, "RPUSH l a b c"),
    (Same, "LPUSH l z y"),
    (Same, "LRANGE l 0 -1"),
    (Same, "LPUSHX nol a"),
    (Same, "RPUSHX nol a"),
    (Same, "EXISTS nol"),
    (Same, "RPUSHX l d"),
    (Same, "LPUSHX l x"),
    (Same, "LLEN l"),
    (Same, "LLEN nol"),
    (Same, "LRANGE l 1 3"),
    (Same, "LRANGE l -3 -1"),
    (Same, "LRANGE l -100 100"),
    (Same, "LRANGE l 5 2"),
    (Same, "LRANGE l 100 200"),
    (Same, "LRANGE l 0 x"),
    (Same, "LRANGE nol 0 -1"),
    (Same, "LINDEX l 0"),
    (Same, "LINDEX l -1"),
    (Same, "LINDEX l 100"),
    (Same, "LINDEX l x"),
    (Same, "LINDEX nol x"),
    (Same, "LSET l 1 Y"),
    (Same, "LSET l -1 D"),
    (Same, "LSET l 100 v"),
    (Same, "LSET l x v"),
    (Same, "LSET nol 0 v"),
    (Same, "LRANGE l 0 -1"),
    (Same, "LINSERT l BEFORE a A"),
    (Same, "LINSERT l after a A2"),
    (Same, "LINSERT l BEFORE nope v"),
    (Same, "LINSERT l MIDDLE a v"),
    (Same, "LINSERT nol BEFORE a v"),
    (Same, "LRANGE l 0 -1"),
    (Same, "RPUSH r a b a c a d a"),
    (Same, "LREM r 2 a"),
    (Same, "LRANGE r 0 -1"),
    (Same, "LREM r -1 a"),
    (Same, "LRANGE r 0 -1"),
    (Same, "LREM r 0 a"),
    (Same, "LREM r x a"),
    (Same, "LREM nol 0 a"),
    (Same, "LRANGE r 0 -1"),
    (Same, "LTRIM r 1 -1"),
    (Same, "LRANGE r 0 -1"),
    (Same, "LTRIM r 5 1"),
    (Same, "EXISTS r"),
    (Same, "LTRIM nol 0 1"),
    (Same, "LTRIM l x 1"),
    (Same, "RPUSH p a b c 1 2 3 c c"),
    (Same, "LPOS p c"),
    (Same, "LPOS p c RANK 2"),
    (Same, "LPOS p c RANK -1"),
    (Same, "LPOS p c COUNT 0"),
    (Same, "LPOS p c COUNT 2"),
    (Same, "LPOS p c RANK -2 COUNT 0"),
    (Same, "LPOS p c COUNT 0 MAXLEN 4"),
    (Same, "LPOS p c RANK -1 MAXLEN 1"),
    (Same, "LPOS p nope"),
    (Same, "LPOS p nope COUNT 1"),
    (Same, "LPOS nol a"),
    (Same, "LPOS nol a COUNT 1"),
    (Same, "LPOS p c RANK 0"),
    (Same, "LPOS p c COUNT -1"),
    (Same, "LPOS p c MAXLEN -1"),
    (Same, "LPOS p c RANK x"),
    (Same, "LPOS p c RANK -9223372036854775808"),
    (Same, "LPOS p c FOO 1"),
    (Same, "LPOS p c COUNT x"),
    (Same, "LPOS p c MAXLEN x"),
    (Same, "LPOS p c RANK"),
    (Same, "LPOP p"),
    (Same, "RPOP p"),
    (Same, "LPOP p 2"),
    (Same, "RPOP p 3"),
    (Same, "LPOP p 0"),
    (Same, "LPOP p -1"),
    (Same, "LPOP p x"),
    (Same, "LPOP p 1 2"),
    (Same, "LPOP nol"),
    (Same, "LPOP nol 2"),
    (Same, "RPOP p 100"),
    (Same, "EXISTS p"),
    (Same, "RPUSH m a b c"),
    (Same, "LMOVE m m2 LEFT RIGHT"),
    (Same, "LMOVE m m2 RIGHT LEFT"),
    (Same, "LMOVE m m LEFT RIGHT"),
    (Same, "LRANGE m 0 -1"),
    (Same, "LRANGE m2 0 -1"),
    (Same, "LMOVE m m2 UP LEFT"),
    (Same, "LMOVE nol m2 LEFT LEFT"),
    (Same, "RPOPLPUSH m m2"),
    (Same, "EXISTS m"),
    (Same, "RPOPLPUSH m2 m2"),
    (Same, "LRANGE m2 0 -1"),
    (Same, "LPUSH"),
    (Same, "LPOS p"),
];

const SETS: &[(Check, &str)] = &[
    (Same, "SADD i 5 3 -1 3 100"),
    (Same, "SMEMBERS i"),
    (Same, "SADD i 007"),
    (Unordered, "SMEMBERS i"),
    (Same, "SREM i 007 nope"),
    (Same, "SADD n 3 1 2"),
    (Same, "SMEMBERS n"),
    (Same, "SADD s a b c"),
    (Same, "SADD s a"),
    (Unordered, "SMEMBERS s"),
    (Same, "SMEMBERS nos"),
    (Same, "SISMEMBER s a"),
    (Same, "SISMEMBER s z"),
    (Same, "SISMEMBER nos a"),
    (Same, "SMISMEMBER s a z b"),
    (Same, "SMISMEMBER nos a"),
    (Same, "SCARD s"),
    (Same, "SCARD nos"),
    (Same, "SREM s a z"),
    (Same, "SREM nos a"),
    (Same, "SADD t 1 2 3 4"),
    (Same, "SADD u 3 4 5"),
    (Same, "SINTER t u"),
    (Same, "SUNION t u"),
    (Same, "SDIFF t u"),
    (Same, "SINTER t nos"),
    (Same, "SUNION t nos"),
    (Same, "SDIFF nos t"),
    (Same, "SINTERSTORE d t u"),
    (Same, "SMEMBERS d"),
    (Same, "SUNIONSTORE d t u"),
    (Same, "SMEMBERS d"),
    (Same, "SDIFFSTORE d t u"),
    (Same, "SMEMBERS d"),
    (Same, "SINTERSTORE d t nos"),
    (Same, "EXISTS d"),
    (Same, "SET d str"),
    (Same, "SUNIONSTORE d t"),
    (Same, "TYPE d"),
    (Same, "SADD w x y 3"),
    (Unordered, "SUNION t w"),
    (Unordered, "SINTER w t"),
    (Unordered, "SDIFF w t"),
    (Same, "SINTERCARD 2 t u"),
    (Same, "SINTERCARD 2 t u LIMIT 1"),
    (Same, "SINTERCARD 2 t u LIMIT 0"),
    (Same, "SINTERCARD 1 nos"),
    (Same, "SINTERCARD 0 t"),
    (Same, "SINTERCARD 3 t u"),
    (Same, "SINTERCARD 2 t u LIMIT -1"),
    (Same, "SINTERCARD 2 t u FOO 1"),
    (Same, "SINTERCARD x t"),
    (Same, "SINTERCARD 1 t LIMIT x"),
    (Same, "SMOVE t u 1"),
    (Same, "SMOVE t u 1"),
    (Same, "SMOVE t t 2"),
    (Same, "SMOVE nos t 2"),
    (Same, "SMOVE t newset 2"),
    (Same, "SMEMBERS newset"),
    (Same, "SMEMBERS u"),
    (Shape, "SPOP t"),
    (Same, "SCARD t"),
    (Same, "SPOP t 0"),
    (Same, "SPOP t -1"),
    (Same, "SPOP t x"),
    (Same, "SPOP t 1 2"),
    (Same, "SPOP nos"),
    (Same, "SPOP nos 2"),
    (Shape, "SPOP u 1"),
    (Shape, "SPOP t 10"),
    (Same, "SADD q 1 2 3"),
    (Unordered, "SPOP q 10"),
    (Same, "EXISTS q"),
    (Same, "EXISTS t"),
    (Shape, "SRANDMEMBER s"),
    (Same, "SRANDMEMBER nos"),
    (Same, "SRANDMEMBER nos 2"),
    (Same, "SRANDMEMBER s 0"),
    (Unordered, "SRANDMEMBER s 10"),
    (Shape, "SRANDMEMBER s 1"),
    (Shape, "SRANDMEMBER s -5"),
    (Same, "SRANDMEMBER s x"),
    (Same, "SRANDMEMBER s 1 2"),
    (Same, "SADD"),
    (Same, "SINTERCARD"),
    // SMOVE of a member the destination already has leaves the destination unchanged: its WATCH holds.
    (Same, "SADD srcset a b"),
    (Same, "SADD dstset a"),
    (Same, "WATCH dstset"),
    (Same, "MULTI"),
    (Same, "SADD dstset c"),
    (Same, "B SMOVE srcset dstset a"),
    (Same, "EXEC"),
    (Same, "SCARD dstset"),
    (Same, "SMEMBERS srcset"),
];

const ZSETS: &[(Check, &str)] = &[
    (Same, "ZADD z 1 a 2 b 3 c"),
    (Same, "ZADD z 1.1 d 0.1 e 1e20 f inf g -inf h"),
    (Same, "ZRANGE z 0 -1 WITHSCORES"),
    (Same, "ZADD z NX 5 a 5 new"),
    (Same, "ZADD z XX 6 a 6 nope"),
    (Same, "ZADD z XX CH 6 a 7 b"),
    (Same, "ZADD z GT CH 1 a 10 b"),
    (Same, "ZADD z LT CH 1 a 100 b"),
    (Same, "ZADD z INCR 2.5 a"),
    (Same, "ZADD z INCR NX 1 a"),
    (Same, "ZADD z INCR XX 1 missing"),
    (Same, "ZADD z INCR GT -1 a"),
    (Same, "ZADD z NX XX 1 a"),
    (Same, "ZADD z GT LT 1 a"),
    (Same, "ZADD z GT NX 1 a"),
    (Same, "ZADD z INCR 1 a 2 b"),
    (Same, "ZADD z 1"),
    (Same, "ZADD z 1 a 2"),
    (Same, "ZADD z x a"),
    (Same, "ZADD z nan a"),
    (Same, "ZADD z INCR inf g"),
    (Same, "ZADD z INCR -inf g"),
    (Same, "ZADD nz XX 1 a"),
    (Same, "EXISTS nz"),
    (Same, "ZINCRBY z 0.2 e"),
    (Same, "ZINCRBY z x e"),
    (Same, "ZINCRBY nz2 5 m"),
    (Same, "ZSCORE z e"),
    (Same, "ZSCORE z missing"),
    (Same, "ZSCORE nz a"),
    (Same, "ZMSCORE z a missing g h"),
    (Same, "ZMSCORE nz a"),
    (Same, "ZCARD z"),
    (Same, "ZCARD nz"),
    (Same, "ZRANK z a"),
    (Same, "ZREVRANK z a"),
    (Same, "ZRANK z missing"),
    (Same, "ZRANGE z 0 -1 WITHSCORES"),
    (Same, "ZRANGE z 1 3"),
    (Same, "ZRANGE z -3 -1 WITHSCORES"),
    (Same, "ZRANGE z 0 -1 REV"),
    (Same, "ZRANGE z 5 1"),
    (Same, "ZRANGE z (1 3 BYSCORE WITHSCORES"),
    (Same, "ZRANGE z -inf +inf BYSCORE"),
    (Same, "ZRANGE z 3 (1 BYSCORE REV"),
    (Same, "ZRANGE z -inf inf BYSCORE LIMIT 1 2"),
    (Same, "ZRANGE z -inf inf BYSCORE LIMIT -1 2"),
    (Same, "ZRANGE z -inf inf BYSCORE LIMIT 2 -1"),
    (Same, "ZRANGE z 0 -1 LIMIT 1 2"),
    (Same, "ZRANGE z - + BYLEX WITHSCORES"),
    (Same, "ZRANGE z x 1 BYSCORE"),
    (Same, "ZRANGE z a b BYLEX"),
    (Same, "ZRANGE z 0 1 FOO"),
    (Same, "ZRANGE z 0 x"),
    (Same, "ZRANGE nz 0 -1"),
    (Same, "ZRANGEBYSCORE z 1 10 WITHSCORES LIMIT 0 3"),
    (Same, "ZRANGEBYSCORE z (1 (10"),
    (Same, "ZRANGEBYSCORE z 1 10 REV"),
    (Same, "ZREVRANGEBYSCORE z 10 1 WITHSCORES"),
    (Same, "ZREVRANGEBYSCORE z +inf -inf LIMIT 1 1"),
    (Same, "ZREVRANGE z 0 2 WITHSCORES"),
    (Same, "ZREVRANGE z 0 2 BYSCORE"),
    (Same, "ZCOUNT z 1 10"),
    (Same, "ZCOUNT z (1 (10"),
    (Same, "ZCOUNT z -inf +inf"),
    (Same, "ZCOUNT z x 1"),
    (Same, "ZCOUNT nz 1 2"),
    (Same, "ZADD lex 0 a 0 b 0 c 0 d 0 e 0 ff"),
    (Same, "ZRANGEBYLEX lex - +"),
    (Same, "ZRANGEBYLEX lex [b (e"),
    (Same, "ZRANGEBYLEX lex (b [ff LIMIT 1 2"),
    (Same, "ZREVRANGEBYLEX lex + [c"),
    (Same, "ZREVRANGEBYLEX lex (e - LIMIT 0 2"),
    (Same, "ZRANGE lex [e [b BYLEX REV"),
    (Same, "ZRANGEBYLEX lex b c"),
    (Same, "ZLEXCOUNT lex [b [d"),
    (Same, "ZLEXCOUNT lex - +"),
    (Same, "ZLEXCOUNT lex a b"),
    (Same, "ZRANGESTORE dst z 0 2"),
    (Same, "ZRANGE dst 0 -1 WITHSCORES"),
    (Same, "ZRANGESTORE dst lex [b [c BYLEX"),
    (Same, "ZRANGE dst 0 -1 WITHSCORES"),
    (Same, "ZRANGESTORE dst z 5 10 BYSCORE REV"),
    (Same, "EXISTS dst"),
    (Same, "ZRANGESTORE dst z 0 1 WITHSCORES"),
    (Same, "ZRANGESTORE dst nz 0 1"),
    (Same, "ZPOPMIN z"),
    (Same, "ZPOPMAX z"),
    (Same, "ZPOPMIN z 2"),
    (Same, "ZPOPMAX z 0"),
    (Same, "ZPOPMIN z -1"),
    (Same, "ZPOPMIN z 1 2"),
    (Same, "ZPOPMIN nz"),
    (Same, "ZPOPMIN nz 2"),
    (Same, "ZREM z a missing"),
    (Same, "ZREM nz a"),
    (Same, "ZPOPMAX z 100"),
    (Same, "EXISTS z"),
    (Same, "ZADD a 1 x 2 y 3 z"),
    (Same, "ZADD b 10 y 20 z 30 w"),
    (Same, "SADD s y w v"),
    (Same, "ZUNIONSTORE u 2 a b"),
    (Same, "ZRANGE u 0 -1 WITHSCORES"),
    (Same, "ZINTERSTORE i 2 a b"),
    (Same, "ZRANGE i 0 -1 WITHSCORES"),
    (Same, "ZUNIONSTORE u 3 a b s WEIGHTS 2 0.5 3 AGGREGATE MAX"),
    (Same, "ZRANGE u 0 -1 WITHSCORES"),
    (Same, "ZINTERSTORE i 3 a b s AGGREGATE MIN"),
    (Same, "ZRANGE i 0 -1 WITHSCORES"),
    (Same, "ZINTERSTORE i 2 a nz"),
    (Same, "EXISTS i"),
    (Same, "ZUNIONSTORE u 2 a nz"),
    (Same, "ZADD infs inf p -inf q"),
    (Same, "ZUNIONSTORE u 2 infs infs WEIGHTS 1 -1"),
    (Same, "ZRANGE u 0 -1 WITHSCORES"),
    (Same, "ZUNIONSTORE u 2 infs a WEIGHTS 0 1"),
    (Same, "ZRANGE u 0 -1 WITHSCORES"),
    (Same, "ZUNIONSTORE u 0 a"),
    (Same, "ZUNIONSTORE u 3 a b"),
    (Same, "ZUNIONSTORE u x a"),
    (Same, "ZUNIONSTORE u 2 a b WEIGHTS 1"),
    (Same, "ZUNIONSTORE u 2 a b WEIGHTS 1 x"),
    (Same, "ZUNIONSTORE u 2 a b AGGREGATE AVG"),
    (Same, "ZUNIONSTORE u 2 a b FOO"),
    (Same, "SET str v"),
    (Same, "ZUNIONSTORE u 2 a str"),
    (Same, "ZINTERSTORE u 2 a str"),
    (Same, "ZINTERSTORE u 0 a"),
    (Same, "ZUNION 2 a b"),
    (
        Same,
        "ZUNION 3 a b s WEIGHTS 2 0.5 3 AGGREGATE MAX WITHSCORES",
    ),
    (Same, "ZINTER 2 a b WITHSCORES"),
    (Same, "ZINTER 3 a b s AGGREGATE MIN"),
    (Same, "ZDIFF 2 a b WITHSCORES"),
    (Same, "ZDIFF 2 b s"),
    (Same, "ZDIFF 1 nz"),
    (Same, "ZDIFF 2 a b WEIGHTS 1 2"),
    (Same, "ZDIFFSTORE d 2 b s"),
    (Same, "ZRANGE d 0 -1 WITHSCORES"),
    (Same, "ZDIFFSTORE d 2 nz a"),
    (Same, "EXISTS d"),
    (Same, "ZDIFFSTORE d 2 a b AGGREGATE SUM"),
    (Same, "ZINTERCARD 2 a b"),
    (Same, "ZINTERCARD 2 a b LIMIT 1"),
    (Same, "ZINTERCARD 2 a b LIMIT 0"),
    (Same, "ZINTERCARD 2 a b LIMIT -1"),
    (Same, "ZINTERCARD 0 a"),
    (Same, "ZINTERCARD 3 a b"),
    (Same, "ZINTERCARD x a"),
    (Same, "ZINTERCARD 2 a b WITHSCORES"),
    (Same, "ZUNION 0 a"),
    (Same, "ZUNION 3 a b"),
    (Same, "ZUNION 2 a str"),
    (Same, "ZINTER 1 a LIMIT 1"),
    (Same, "ZADD r 1 a 2 b 3 c 4 d 5 e 6 f"),
    (Same, "ZREMRANGEBYSCORE r (1 2"),
    (Same, "ZREMRANGEBYRANK r -1 -1"),
    (Same, "ZREMRANGEBYLEX r [d +"),
    (Same, "ZRANGE r 0 -1"),
    (Same, "ZREMRANGEBYRANK r 5 10"),
    (Same, "ZREMRANGEBYSCORE r x 1"),
    (Same, "ZREMRANGEBYLEX r a b"),
    (Same, "ZREMRANGEBYRANK r 0 x"),
    (Same, "ZREMRANGEBYRANK nz 0 -1"),
    (Same, "ZREMRANGEBYRANK str 0 -1"),
    (Same, "ZREMRANGEBYSCORE r -inf +inf"),
    (Same, "EXISTS r"),
    (Same, "ZSCAN a 0"),
    (Same, "ZSCAN a 0 MATCH *y* COUNT 100"),
    (Same, "ZSCAN a x"),
    (Same, "ZSCAN a 0 COUNT 0"),
    (Same, "ZSCAN a 0 FOO"),
    (Same, "ZSCAN nz 0 FOO"),
    (Same, "ZSCAN str 0"),
    (Same, "SADD ints 3 1 2"),
    (Same, "SSCAN ints 0"),
    (Same, "SSCAN ints 0 MATCH 2"),
    (Same, "SSCAN ints 0 TYPE set"),
    (Same, "HSET hs f1 v1 f2 v2 g v3"),
    (Same, "HSCAN hs 0 MATCH f*"),
    (Same, "HSCAN hs 0 COUNT x"),
    (Same, "HSCAN str 0"),
    (Shape, "ZRANDMEMBER a"),
    (Same, "ZRANDMEMBER nz"),
    (Same, "ZRANDMEMBER nz 2"),
    (Same, "ZRANDMEMBER a 0"),
    (Unordered, "ZRANDMEMBER a 10"),
    (Unordered, "ZRANDMEMBER a 10 WITHSCORES"),
    (Shape, "ZRANDMEMBER a -5 WITHSCORES"),
    (Same, "ZRANDMEMBER a 1 WITHVALUES"),
    (Same, "ZRANDMEMBER a x"),
    (Same, "TYPE a"),
    (Same, "GET a"),
    (Same, "ZADD str 1 a"),
    (Same, "ZRANGE str 0 -1"),
    (Same, "ZSCORE s y"),
    (Same, "SADD a x"),
    (Same, "ZRANGESTORE a2 str 0 1"),
    (
        Same,
        "ZADD big 1 0123456789012345678901234567890123456789012345678901234567890123456789",
    ),
    (Same, "ZADD big 0 m 2 n"),
    (Same, "ZRANGE big 0 -1 WITHSCORES"),
    (Same, "ZRANK big n"),
    (Same, "ZRANGEBYSCORE big (0 2"),
    (Same, "ZREVRANGEBYSCORE big 1 -inf WITHSCORES"),
    (Same, "ZPOPMIN big"),
];

/// Blocking pops that find something at once, or time out (waiting clients: `tests/blocking.rs`).
const BLOCKING: &[(Check, &str)] = &[
    (Same, "RPUSH l a b c d e"),
    (Same, "BLPOP missing l 1"),
    (Same, "BRPOP l missing 1"),
    (Same, "BLPOP missing 0.05"),
    (Same, "BRPOP missing1 missing2 0.01"),
    (Same, "BLPOP l x"),
    (Same, "BLPOP l -1"),
    (Same, "BLPOP l"),
    (Same, "SET str v"),
    (Same, "BLPOP missing str l 1"),
    (Same, "BLPOP l str 1"),
    (Same, "BLMOVE l dst RIGHT LEFT 1"),
    (Same, "LRANGE dst 0 -1"),
    (Same, "BLMOVE l str RIGHT LEFT 1"),
    (Same, "BLMOVE str dst RIGHT LEFT 1"),
    (Same, "BLMOVE l dst UP LEFT 1"),
    (Same, "BLMOVE l dst LEFT LEFT x"),
    (Same, "BLMOVE missing dst LEFT LEFT 0.02"),
    (Same, "RPUSH src p q"),
    (Same, "BRPOPLPUSH src dst 1"),
    (Same, "LRANGE dst 0 -1"),
    (Same, "BRPOPLPUSH src str 1"),
    (Same, "BRPOPLPUSH src dst x"),
    (Same, "BRPOPLPUSH missing dst 0.02"),
    (Same, "EXISTS l"),
    (Same, "ZADD z 1 a 2 b 3 c"),
    (Same, "BZPOPMIN missing z 1"),
    (Same, "BZPOPMAX z 1"),
    (Same, "BZPOPMIN str 1"),
    (Same, "BZPOPMAX missing 0.02"),
    (Same, "BZPOPMIN z 0"),
    (Same, "EXISTS z"),
    (Same, "BLPOP dst 0"),
    (Same, "EXISTS dst"),
];

/// LMPOP, ZMPOP and their blocking BLMPOP, BZMPOP that find something at once or time out: replies, every
/// error in the order Redis judges the arguments, and inside MULTI, where nothing blocks.
const MPOP: &[(Check, &str)] = &[
    (Same, "RPUSH l a b c d e"),
    (Same, "LMPOP 1 l LEFT"),
    (Same, "LMPOP 1 l right COUNT 2"),
    (Same, "LMPOP 2 missing l LEFT COUNT 10"),
    (Same, "EXISTS l"),
    (Same, "LMPOP 1 l LEFT"),
    (Same, "LMPOP 2 missing1 missing2 RIGHT COUNT 3"),
    (Same, "SET str v"),
    (Same, "LMPOP 2 missing str LEFT"),
    (Same, "RPUSH l2 x y"),
    (Same, "LMPOP 2 l2 str LEFT"),
    (Same, "LMPOP 1 l2"),
    (Same, "LMPOP 0 l2 LEFT"),
    (Same, "LMPOP -1 l2 LEFT"),
    (Same, "LMPOP x l2 LEFT"),
    (Same, "LMPOP 99999999999999999999 l2 LEFT"),
    (Same, "LMPOP 2 l2 LEFT"),
    (Same, "LMPOP 1 l2 UP"),
    (Same, "LMPOP 1 l2 LEFT COUNT 0"),
    (Same, "LMPOP 1 l2 LEFT COUNT -1"),
    (Same, "LMPOP 1 l2 LEFT COUNT x"),
    (Same, "LMPOP 1 l2 LEFT COUNT"),
    (Same, "LMPOP 1 l2 LEFT COUNT 1 COUNT 1"),
    (Same, "LMPOP 1 l2 LEFT extra"),
    (Same, "LMPOP 0 l2 UP COUNT 0"),
    (Same, "LMPOP 1 l2 UP COUNT 0"),
    (Same, "LRANGE l2 0 -1"),
    (Same, "BLMPOP 0.01 1 missing LEFT"),
    (Same, "BLMPOP 0.01 2 missing str RIGHT COUNT 2"),
    (Same, "RPUSH l3 p q r"),
    (Same, "BLMPOP 1 2 missing l3 RIGHT COUNT 2"),
    (Same, "BLMPOP 0 1 l3 LEFT COUNT 9"),
    (Same, "EXISTS l3"),
    (Same, "BLMPOP x 1 l3 LEFT"),
    (Same, "BLMPOP -1 1 l3 LEFT"),
    (Same, "BLMPOP x 0 l3 LEFT"),
    (Same, "BLMPOP x 1 l3 UP"),
    (Same, "BLMPOP 1 1 l3"),
    (Same, "BLMPOP 1 2 l3 LEFT"),
    (Same, "ZADD z 1 a 2 b 3.5 c 4 d -inf e"),
    (Same, "ZMPOP 1 z MIN"),
    (Same, "ZMPOP 1 z max COUNT 2"),
    (Same, "ZMPOP 2 missing z MIN COUNT 5"),
    (Same, "EXISTS z"),
    (Same, "ZMPOP 1 z MIN"),
    (Same, "ZMPOP 1 str MIN"),
    (Same, "ZMPOP 1 l2 MAX"),
    (Same, "ZMPOP 0 z MIN"),
    (Same, "ZMPOP 2 z MIN"),
    (Same, "ZMPOP 1 z LEFT"),
    (Same, "ZMPOP 1 z MIN COUNT 0"),
    (Same, "ZMPOP 1 z MIN COUNT 1 extra"),
    (Same, "BZMPOP 0.01 1 missing MAX"),
    (Same, "ZADD z2 1 a 2 b"),
    (Same, "BZMPOP 1 2 missing z2 MAX COUNT 5"),
    (Same, "BZMPOP 1 1 str MIN"),
    (Same, "BZMPOP x 1 z2 MIN"),
    (Same, "BZMPOP 0 0 z2 MIN"),
    (Same, "BZMPOP 0 1 z2 RIGHT"),
    (Same, "RPUSH l4 a"),
    (Same, "ZADD z3 1 a"),
    (Same, "MULTI"),
    (Same, "BLMPOP 0 1 missing LEFT"),
    (Same, "BZMPOP 0 1 missing MIN"),
    (Same, "BLPOP missing 0"),
    (Same, "BZPOPMAX missing 0"),
    (Same, "BLMOVE missing l4 LEFT LEFT 0"),
    (Same, "BRPOPLPUSH missing l4 0"),
    (Same, "LMPOP 1 missing LEFT"),
    (Same, "BLMPOP 0 2 missing l4 RIGHT"),
    (Same, "BZMPOP 0 2 missing z3 MAX COUNT 2"),
    (Same, "BLMPOP 0 1 str LEFT"),
    (Same, "EXEC"),
    (Same, "EXISTS l4 z3"),
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
    (Same, "HSET h a 1 b 2"),
    (Same, "HGETALL h"),
    (Same, "HGETALL missing"),
    (Same, "HRANDFIELD missing"),
    (Unordered, "HRANDFIELD h 5 WITHVALUES"),
    (Same, "HGET h missing"),
    (Same, "HMGET h a missing"),
    (Same, "HINCRBYFLOAT h f 2.5"),
    (Same, "RPUSH l a"),
    (Same, "LPOP missing"),
    (Same, "LPOP missing 2"),
    (Same, "LINDEX l 5"),
    (Same, "LPOS l z"),
    (Same, "LMOVE missing l LEFT LEFT"),
    (Same, "SADD s 1 2"),
    (Same, "SMEMBERS s"),
    (Same, "SMEMBERS missing"),
    (Same, "SINTER s missing"),
    (Same, "SUNION s missing"),
    (Same, "SPOP missing"),
    (Same, "SPOP missing 3"),
    (Same, "SPOP s 0"),
    (Same, "SRANDMEMBER missing"),
    (Same, "SRANDMEMBER s 0"),
    (Same, "TYPE s"),
    (Same, "ZADD z 1.5 a 2 b"),
    (Same, "ZADD z INCR 1 a"),
    (Same, "ZINCRBY z 1 missing"),
    (Same, "ZSCORE z a"),
    (Same, "ZSCORE z missing"),
    (Same, "ZMSCORE z a missing"),
    (Same, "ZRANGE z 0 -1 WITHSCORES"),
    (Same, "ZRANGEBYSCORE z -inf inf WITHSCORES"),
    (Same, "ZRANGE z 0 -1"),
    (Same, "ZPOPMIN z"),
    (Same, "ZPOPMAX z 5"),
    (Same, "ZPOPMIN missing"),
    (Same, "ZRANK z missing"),
    (Same, "ZADD z XX INCR 1 missing"),
    (Same, "ZADD z2 1 a 2 b"),
    (Unordered, "ZRANDMEMBER z2 5 WITHSCORES"),
    (Same, "TYPE z2"),
    (Same, "BLPOP missing 0.01"),
    (Same, "BLMOVE missing l LEFT LEFT 0.01"),
    (Same, "BZPOPMIN missing 0.01"),
    (Same, "BZPOPMAX z2 1"),
    (Same, "RPUSH bl x"),
    (Same, "BRPOP bl 1"),
];

/// MULTI, EXEC, DISCARD, WATCH and UNWATCH: every error text, queueing errors that abort EXEC, runtime
/// errors kept in their places, and WATCH touched by the other connection (`B`), by the watcher itself, by
/// FLUSHALL and by expiry, or not touched by writes to other keys.
/// SORT and SORT_RO over lists, sets (sorted, so their table order does not show) and sorted sets: numbers,
/// ALPHA, BY keys and hash fields, BY nosort, LIMIT, GET, STORE and the errors, inside MULTI too.
const SORT: &[(Check, &str)] = &[
    (Same, "RPUSH l 3 1 2 10 1.5 -4"),
    (Same, "SORT l"),
    (Same, "SORT l DESC"),
    (Same, "SORT l ALPHA"),
    (Same, "SORT l ALPHA DESC LIMIT 1 2"),
    (Same, "SORT l LIMIT -10 100"),
    (Same, "SORT l LIMIT 5 10"),
    (Same, "SORT l LIMIT 1 -1"),
    (Same, "SORT l LIMIT 2 0"),
    (Same, "SORT l LIMIT 1 9223372036854775807"),
    (Same, "SORT l LIMIT x 1"),
    (Same, "SORT l LIMIT 1"),
    (Same, "SORT l BY nosort"),
    (Same, "SORT l BY nosort DESC"),
    (Same, "SORT l BY nosort DESC LIMIT 1 3"),
    (Same, "SORT l BY nosort LIMIT 4 10"),
    (Same, "MSET w_3 30 w_1 10 w_2 200 w_10 5 w_1.5 -1 w_-4 0"),
    (Same, "HSET o_3 f c"),
    (Same, "HSET o_1 f a"),
    (Same, "SORT l BY w_*"),
    (Same, "SORT l BY w_* DESC LIMIT 0 2"),
    (Same, "SORT l BY o_*->f ALPHA"),
    (Same, "SORT l BY o_*->f"),
    (Same, "SORT l BY w_* GET # GET w_* GET o_*->f GET nokey"),
    (Same, "SORT l BY nosort GET o_*->"),
    (Same, "SORT_RO l BY w_* GET #"),
    (Same, "SORT_RO l STORE d"),
    (Same, "SORT l BY w_* GET w_* STORE d"),
    (Same, "LRANGE d 0 -1"),
    (Same, "SORT l BY nosort GET o_*->f STORE d"),
    (Same, "LRANGE d 0 -1"),
    (Same, "SORT nothing STORE d"),
    (Same, "EXISTS d"),
    (Same, "SORT nothing"),
    (Same, "RPUSH bad 1 x 2"),
    (Same, "SORT bad"),
    (Same, "SORT bad ALPHA"),
    (Same, "SORT bad STORE d"),
    (Same, "SET w_x notanumber"),
    (Same, "SORT l BY w_x"),
    (Same, "SADD s 5 3 a b 10"),
    (Same, "SORT s"),
    (Same, "SORT s ALPHA"),
    (Same, "SORT s ALPHA DESC LIMIT 1 3"),
    (Same, "SORT s BY nosort STORE d"),
    (Same, "LRANGE d 0 -1"),
    (Same, "SADD n 5 3 1 20"),
    (Same, "SORT n"),
    (Same, "SORT n DESC GET #"),
    (Same, "ZADD z 1 c 2 a 3 b 4 10"),
    (Same, "SORT z ALPHA"),
    (Same, "SORT z BY nosort"),
    (Same, "SORT z BY nosort DESC LIMIT 0 2"),
    (Same, "SORT z BY nosort LIMIT -10 100"),
    (Same, "SORT z"),
    (Same, "SET str x"),
    (Same, "SORT str"),
    (Same, "HSET h a 1"),
    (Same, "SORT h"),
    (Same, "SORT l FOO"),
    (Same, "SORT l BY"),
    (Same, "MULTI"),
    (Same, "SORT l BY w_* GET o_*->f"),
    (Same, "SORT l BY w_* STORE d2"),
    (Same, "LRANGE d2 0 -1"),
    (Same, "EXEC"),
];

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
    (Same, "CLIENT UNBLOCK 999999"),
    (Same, "CLIENT UNBLOCK 999999 ERROR"),
    (Same, "CLIENT UNBLOCK 999999 later"),
    (Same, "CLIENT UNBLOCK x"),
    (Same, "CLIENT UNBLOCK x later"),
    (Same, "CLIENT UNBLOCK 1 TIMEOUT extra"),
    (Same, "CLIENT UNBLOCK"),
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
    (Same, "CONFIG GET notify-keyspace-events"),
    (Same, "CONFIG SET notify-keyspace-events KA"),
    (Same, "CONFIG GET notify-keyspace-events"),
    (Same, "CONFIG SET notify-keyspace-events $lshzxeKE"),
    (Same, "CONFIG GET notify-keyspace-events"),
    (Same, "CONFIG SET notify-keyspace-events KEAn"),
    (Same, "CONFIG GET notify-keyspace-events"),
    (Same, "CONFIG SET notify-keyspace-events Kq"),
    (Same, "CONFIG GET notify-keyspace-events"),
    (Same, "CONFIG SET notify-keyspace-events \"\""),
    (Same, "CONFIG GET notify-keyspace-events"),
    // Several parameters at once, all or nothing; Redis's parameters for what pincore lacks.
    (
        Same,
        "CONFIG SET maxmemory 10000001 repl-backlog-size 10000002",
    ),
    (Same, "CONFIG GET repl-backlog-size"),
    (Same, "CONFIG GET maxmemory"),
    (Same, "CONFIG SET maxmemory 0 repl-backlog-size 1mb"),
    (Same, "CONFIG GET repl-backlog-size"),
    (
        Same,
        "CONFIG SET maxmemory 10000001 maxmemory-clients 200% client-query-buffer-limit invalid",
    ),
    (Same, "CONFIG GET maxmemory"),
    (Same, "CONFIG SET maxmemory-clients 10%"),
    (Same, "CONFIG GET maxmemory-clients"),
    (Same, "CONFIG SET maxmemory-clients 0"),
    (Same, "CONFIG SET daemonize yes"),
    (Same, "CONFIG GET daemonize"),
    (Same, "CONFIG GET key-load-delay"),
    (Same, "CONFIG GET *load-delay"),
    (Unordered, "CONFIG GET *of"),
    (Same, "CONFIG GET maxmemory-samples"),
    (Same, "CONFIG SET maxmemory-samples 5"),
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

/// The compact encodings' thresholds as CONFIG parameters (with Redis 7.0's `ziplist` aliases), the
/// encodings OBJECT ENCODING reports on either side of them, and the DEBUG subcommands Redis's tests read
/// (DEBUG OBJECT's line differs in its address and sizes, so only its shape is compared).
const ENCODINGS: &[(Check, &str)] = &[
    (Same, "CONFIG GET hash-max-listpack-entries"),
    (Same, "CONFIG GET hash-max-ziplist-value"),
    (Unordered, "CONFIG GET *max-listpack*"),
    (Unordered, "CONFIG GET *max-ziplist*"),
    (Same, "CONFIG GET set-max-intset-entries"),
    (
        Same,
        "CONFIG SET hash-max-ziplist-entries 4 hash-max-listpack-value 8",
    ),
    (Same, "HSET h a 1 b 2 c 3 d 4"),
    (Same, "OBJECT ENCODING h"),
    (Same, "HSET h d 5"),
    (Same, "OBJECT ENCODING h"),
    (Same, "HSET h e 5"),
    (Same, "OBJECT ENCODING h"),
    (Same, "HSET h2 a 12345678"),
    (Same, "OBJECT ENCODING h2"),
    (Same, "HSET h2 b 123456789"),
    (Same, "OBJECT ENCODING h2"),
    (Same, "HSET h3 123456789 a"),
    (Same, "OBJECT ENCODING h3"),
    (Same, "CONFIG SET hash-max-listpack-value 1kb"),
    (Same, "CONFIG GET hash-max-listpack-value"),
    (
        Same,
        "HSET h4 f 0123456789012345678901234567890123456789012345678901234567890123456789",
    ),
    (Same, "OBJECT ENCODING h4"),
    (Same, "HGET h4 f"),
    (Same, "CONFIG SET set-max-intset-entries 3"),
    (Same, "SADD s 3 1 2"),
    (Same, "OBJECT ENCODING s"),
    (Same, "SMEMBERS s"),
    (Same, "SADD s 4"),
    (Same, "OBJECT ENCODING s"),
    (Same, "SADD s2 1 a"),
    (Same, "OBJECT ENCODING s2"),
    (Same, "CONFIG SET set-max-intset-entries 0"),
    (Same, "SADD s3 1"),
    (Same, "OBJECT ENCODING s3"),
    (
        Same,
        "CONFIG SET zset-max-ziplist-entries 2 zset-max-listpack-value 3",
    ),
    (Same, "ZADD z 1 a 2 b"),
    (Same, "OBJECT ENCODING z"),
    (Same, "ZADD z 3 c"),
    (Same, "OBJECT ENCODING z"),
    (Same, "ZADD z2 1 abc"),
    (Same, "OBJECT ENCODING z2"),
    (Same, "ZADD z2 1 abcd"),
    (Same, "OBJECT ENCODING z2"),
    (Same, "CONFIG SET zset-max-listpack-entries 0"),
    (Same, "ZADD z3 1 a"),
    (Same, "OBJECT ENCODING z3"),
    (
        Same,
        "CONFIG SET list-max-ziplist-size 1 list-compress-depth 2",
    ),
    (Same, "CONFIG GET list-max-listpack-size"),
    (Same, "CONFIG GET list-compress-depth"),
    (Same, "RPUSH l a b c"),
    (Same, "OBJECT ENCODING l"),
    (Same, "LRANGE l 0 -1"),
    // Nodes of one element: every command below crosses nodes.
    (Same, "RPUSH l d e f g a"),
    (Same, "LPUSH l z y"),
    (Same, "LINSERT l BEFORE d mid"),
    (Same, "LINSERT l AFTER g mid2"),
    (Same, "LSET l 4 changed"),
    (Same, "LSET l -1 last"),
    (Same, "LINDEX l 5"),
    (Same, "LINDEX l -3"),
    (Same, "LPOS l a"),
    (Same, "LPOS l mid RANK -1"),
    (Same, "LRANGE l 3 8"),
    (Same, "LRANGE l -4 -2"),
    (Same, "LREM l -1 a"),
    (Same, "LTRIM l 2 -3"),
    (Same, "LRANGE l 0 -1"),
    (Same, "RPOP l 2"),
    (Same, "LPOP l"),
    (Same, "LRANGE l 0 -1"),
    (Same, "LLEN l"),
    (Same, "CONFIG SET list-max-listpack-size -7"),
    (Same, "CONFIG GET list-max-ziplist-size"),
    (Same, "CONFIG SET hash-max-listpack-entries -1"),
    (Same, "CONFIG SET hash-max-listpack-entries x"),
    (Same, "CONFIG SET hash-max-listpack-value x"),
    (Same, "CONFIG SET zset-max-listpack-value -1"),
    (Same, "CONFIG SET list-compress-depth -1"),
    (Same, "CONFIG SET list-max-ziplist-size x"),
    (Same, "CONFIG SET set-max-intset-entries 1.5"),
    (Same, "CONFIG GET hash-max-listpack-entries"),
    (Shape, "DEBUG OBJECT h"),
    (Same, "DEBUG OBJECT missing"),
    (Same, "DEBUG DIGEST-VALUE missing"),
    (Same, "DEBUG QUICKLIST-PACKED-THRESHOLD 0"),
    (Same, "DEBUG QUICKLIST-PACKED-THRESHOLD 1b"),
    (Same, "DEBUG QUICKLIST-PACKED-THRESHOLD 5gb"),
    (Same, "DEBUG QUICKLIST-PACKED-THRESHOLD x"),
    (Shape, "MEMORY USAGE h"),
    (Shape, "MEMORY USAGE h SAMPLES 0"),
    (Same, "MEMORY USAGE missing"),
    (Same, "MEMORY USAGE h SAMPLES x"),
    (Same, "MEMORY USAGE h foo"),
    (Same, "MEMORY USAGE"),
    (Same, "MEMORY nope"),
    (Same, "FLUSHALL"),
    (Same, "DEBUG DIGEST"),
];

#[test]
fn encoding_thresholds_are_settings_as_in_redis() {
    run_on(ENCODINGS, false, debug_enabled);
}

/// DEBUG DIGEST and DIGEST-VALUE: equal values and datasets digest alike whatever their encoding and the
/// order they were built in, and any change shows. Redis's own digests are other bytes; the equalities are
/// what its tests rely on.
#[test]
fn digests_follow_content_not_encoding_or_order() {
    let server = debug_enabled();
    let mut c = Client::connect(server.resp);
    let mut call = |line: &str| -> Vec<u8> {
        let words = words(line);
        let args: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        c.call(&args)
    };
    let empty = call("DEBUG DIGEST");
    assert_eq!(empty, format!("+{}\r\n", "0".repeat(40)).into_bytes());
    call("SADD a 1 2 3");
    call("SADD b 3 2 x 1");
    call("SREM b x");
    assert_eq!(call("OBJECT ENCODING a"), b"$6\r\nintset\r\n");
    assert_eq!(call("OBJECT ENCODING b"), b"$9\r\nhashtable\r\n");
    let (a, b) = (call("DEBUG DIGEST-VALUE a"), call("DEBUG DIGEST-VALUE b"));
    assert_eq!(a, b, "the same members in an intset and in a table");
    let full = call("DEBUG DIGEST");
    assert_ne!(full, empty);
    call("RPUSH l x y");
    let with_list = call("DEBUG DIGEST");
    assert_ne!(with_list, full);
    call("RPOP l");
    call("RPUSH l y");
    assert_eq!(call("DEBUG DIGEST"), with_list, "the same list again");
    call("LPUSH l2 y x");
    let one = call("DEBUG DIGEST-VALUE l");
    let each = one.strip_prefix(b"*1\r\n").expect("an array of one digest");
    assert_eq!(
        call("DEBUG DIGEST-VALUE l l2"),
        [&b"*2\r\n"[..], each, each].concat()
    );
    call("RPUSH l3 y x");
    assert_ne!(
        call("DEBUG DIGEST-VALUE l3"),
        call("DEBUG DIGEST-VALUE l"),
        "a list's order counts"
    );
    call("DEL l l2 l3");
    assert_eq!(call("DEBUG DIGEST"), full, "back to the sets alone");
    call("EXPIRE a 100");
    assert_ne!(
        call("DEBUG DIGEST"),
        full,
        "a deadline is part of the dataset"
    );
}

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
fn every_kind_of_value_is_typed_as_redis_types_it() {
    run(TYPES, false);
}

#[test]
fn hash_commands_reply_as_redis_does() {
    run(HASHES, false);
}

#[test]
fn list_commands_reply_as_redis_does() {
    run(LISTS, false);
}

#[test]
fn set_commands_reply_as_redis_does() {
    run(SETS, false);
}

#[test]
fn sorted_set_commands_reply_as_redis_does() {
    run(ZSETS, false);
}

#[test]
fn blocking_pops_reply_as_redis_does() {
    run(BLOCKING, false);
}

#[test]
fn multi_key_pops_reply_as_redis_does() {
    run(MPOP, false);
}

#[test]
fn multi_key_pops_reply_as_redis_does_in_resp3() {
    run(MPOP, true);
}

#[test]
fn resp3_replies_are_encoded_as_redis_encodes_them() {
    run(RESP3, true);
}

#[test]
fn sort_replies_as_redis_does() {
    run(SORT, false);
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
/// replies, confirmations and messages alike. A command `!sleep MS` waits, for both servers.
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
        if let Some(ms) = line.strip_prefix("!sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().expect("!sleep MS")));
            continue;
        }
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

/// The keyspace's own notifications: keys made anew (not overwritten), a key the sweep expired, one evicted
/// at once when `maxmemory` is lowered below what the keys take.
const KEYSPACE_EVENTS: &[Step] = &[
    (1, "CONFIG SET notify-keyspace-events En", 1),
    (0, "PSUBSCRIBE *", 1),
    (1, "SET foo bar", 1),
    (1, "SET foo baz", 1),
    (1, "SET bar bar", 1),
    (1, "RPUSH list a", 1),
    (1, "RPUSH list b", 1),
    (0, "", 3),
    (1, "CONFIG SET notify-keyspace-events Ex", 1),
    (1, "PSETEX gone 100 1", 1),
    (0, "", 1),
    (1, "CONFIG SET notify-keyspace-events Ee", 1),
    (1, "CONFIG SET maxmemory-policy allkeys-lru", 1),
    (1, "FLUSHALL", 1),
    (1, "SET foo bar", 1),
    (1, "CONFIG SET maxmemory 1", 1),
    (0, "", 1),
    (1, "CONFIG SET maxmemory 0", 1),
    (1, "CONFIG SET maxmemory-policy noeviction", 1),
    (1, "CONFIG SET notify-keyspace-events \"\"", 1),
    (0, "PUNSUBSCRIBE", 1),
];

#[test]
fn keyspace_notifications_of_new_expired_and_evicted_keys_are_redis_s() {
    run_pubsub(KEYSPACE_EVENTS, 2, false);
}

/// Clients blocked in BLMPOP and BZMPOP (connections 1 and 2) woken by pushes from connection 0, in the order
/// they blocked, and the keyspace notifications of LMPOP and ZMPOP (connection 3 subscribed to them all; a
/// served client's notifications may come before or after the push's here, so `tests/blocking.rs` reads those).
const MULTI_KEY_POPS_WOKEN: &[Step] = &[
    (1, "BLMPOP 0 2 q1 q2 RIGHT COUNT 2", 0),
    (2, "BZMPOP 5 2 zq1 zq2 MAX COUNT 2", 0),
    (0, "!sleep 150", 0),
    (0, "RPUSH q2 a b c", 1),
    (1, "", 1),
    (0, "ZADD zq2 1 a 2 b 3 c", 1),
    (2, "", 1),
    (0, "LRANGE q2 0 -1", 1),
    (0, "ZRANGE zq2 0 -1 WITHSCORES", 1),
    (1, "BLMPOP 0 1 q3 LEFT", 0),
    (0, "!sleep 150", 0),
    (2, "BLMPOP 0 1 q3 LEFT COUNT 5", 0),
    (0, "!sleep 150", 0),
    (0, "RPUSH q3 x", 1),
    (1, "", 1),
    (0, "RPUSH q3 y z", 1),
    (2, "", 1),
    (1, "BZMPOP 0.05 1 nothing MIN", 1),
    (3, "PSUBSCRIBE __key*__:*", 1),
    (0, "CONFIG SET notify-keyspace-events KEA", 1),
    (0, "RPUSH n1 a b c", 1),
    (0, "LMPOP 2 missing n1 LEFT COUNT 2", 1),
    (0, "LMPOP 1 n1 RIGHT COUNT 2", 1),
    (0, "ZADD n2 1 a 2 b", 1),
    (0, "ZMPOP 1 n2 MAX", 1),
    (0, "ZMPOP 1 n2 MIN COUNT 9", 1),
    (0, "LMPOP 1 n1 LEFT", 1),
    (3, "", 16),
];

#[test]
fn multi_key_pops_wake_and_notify_as_redis_s() {
    run_pubsub(MULTI_KEY_POPS_WOKEN, 4, false);
}

#[test]
fn pubsub_replies_and_messages_are_redis_s_in_resp2() {
    run_pubsub(PUBSUB, 3, false);
}

#[test]
fn pubsub_replies_and_messages_are_redis_s_in_resp3() {
    run_pubsub(PUBSUB_RESP3, 3, true);
}
