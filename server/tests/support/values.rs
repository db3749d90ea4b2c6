//! The same values of every type, filled on any server, for tests that move values between servers (DUMP
//! and RESTORE, MIGRATE) and compare them.

use std::net::SocketAddr;

use super::{redis_server, Client, Redis, Server};

/// A redis-server and a pincore-server, running while this lives.
pub struct Pair {
    pub redis_process: Redis,
    pub redis_addr: SocketAddr,
    pub pincore: Server,
}

impl Pair {
    /// Starts both (check that redis-server is installed first), with a connection to each: redis-server's,
    /// then pincore-server's.
    pub fn start() -> (Pair, Client, Client) {
        let (redis_process, redis_addr) = redis_server();
        let pincore = Server::start();
        let (redis, ours) = (Client::connect(redis_addr), Client::connect(pincore.resp));
        let pair = Pair {
            redis_process,
            redis_addr,
            pincore,
        };
        (pair, redis, ours)
    }
}

/// The same values on a connection: each type small (Redis's compact encodings: int and LZF strings,
/// intset, listpacks, a one-node quicklist) and large (hash tables, skip lists, a many-node quicklist).
pub fn fill(c: &mut Client) {
    let call = |c: &mut Client, args: Vec<Vec<u8>>| {
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let reply = c.call(&args);
        assert!(
            !reply.starts_with(b"-"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    };
    let w = |s: &str| s.as_bytes().to_vec();
    call(c, vec![w("SET"), w("string"), w("bar")]);
    call(c, vec![w("SET"), w("int"), w("-12345")]);
    call(c, vec![w("SET"), w("long"), vec![b'a'; 500]]);
    call(c, vec![w("SET"), w("binary"), (0..=255u8).collect()]);
    let many = |prefix: &'static str, n: usize| {
        (0..n).map(move |i| format!("{prefix}{i:05}").into_bytes())
    };
    let ints = |n: i64| (0..n).map(|i| (i * 7919 - 100_000).to_string().into_bytes());
    call(
        c,
        [w("RPUSH"), w("list")]
            .into_iter()
            .chain([w("a"), w("1"), w("-1"), w("70000")])
            .collect(),
    );
    call(
        c,
        [w("RPUSH"), w("biglist")]
            .into_iter()
            .chain(many("element-", 3000))
            .collect(),
    );
    call(
        c,
        [w("SADD"), w("intset")]
            .into_iter()
            .chain(ints(20))
            .collect(),
    );
    call(
        c,
        [w("SADD"), w("bigintset")]
            .into_iter()
            .chain(ints(600))
            .collect(),
    );
    call(
        c,
        [w("SADD"), w("set")]
            .into_iter()
            .chain(many("m", 300))
            .collect(),
    );
    let pairs = |n: usize| many("f", n).flat_map(|f| [f.clone(), [&b"v"[..], &f].concat()]);
    call(
        c,
        [w("HSET"), w("hash")].into_iter().chain(pairs(5)).collect(),
    );
    call(
        c,
        [w("HSET"), w("bighash")]
            .into_iter()
            .chain(pairs(300))
            .collect(),
    );
    let scored = |n: usize| {
        many("z", n)
            .enumerate()
            .flat_map(|(i, m)| [format!("{}.25", i as i64 - 10).into_bytes(), m])
    };
    call(
        c,
        [w("ZADD"), w("zset")]
            .into_iter()
            .chain(scored(5))
            .collect(),
    );
    call(
        c,
        vec![
            w("ZADD"),
            w("zset"),
            w("inf"),
            w("top"),
            w("-inf"),
            w("bottom"),
        ],
    );
    call(
        c,
        [w("ZADD"), w("bigzset")]
            .into_iter()
            .chain(scored(300))
            .collect(),
    );
}

pub const KEYS: [&str; 13] = [
    "string",
    "int",
    "long",
    "binary",
    "list",
    "biglist",
    "intset",
    "bigintset",
    "set",
    "hash",
    "bighash",
    "zset",
    "bigzset",
];

pub fn bulk(reply: &[u8]) -> Vec<u8> {
    let header_end = reply.windows(2).position(|w| w == b"\r\n").expect("a line");
    assert_eq!(reply[0], b'$', "{:?}", String::from_utf8_lossy(reply));
    let len: usize = std::str::from_utf8(&reply[1..header_end])
        .unwrap()
        .parse()
        .expect("a bulk");
    reply[header_end + 2..header_end + 2 + len].to_vec()
}

pub fn digest(c: &mut Client, key: &str) -> Vec<u8> {
    c.call(&[b"DEBUG", b"DIGEST-VALUE", key.as_bytes()])
}
