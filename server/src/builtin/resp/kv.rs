//! What the single-key commands mean: arguments in, an encoded RESP reply out, on the keyspace part that holds
//! the key (locked by the caller, see [`super::keyspace`]).

use std::time::{Duration, Instant};

use pincore_resp::reply::{self, Protocol};

use super::store::{parse_i64, SetCondition, SetTtl, Store};

const NOT_AN_INTEGER: &[u8] = b"ERR value is not an integer or out of range";
const SYNTAX: &[u8] = b"ERR syntax error";
const EXPIRE_TIME_SET: &[u8] = b"ERR invalid expire time in 'set' command";
const EXPIRE_TIME_EXPIRE: &[u8] = b"ERR invalid expire time in 'expire' command";

/// Now in Unix milliseconds: Redis checks that a deadline, now + ttl, fits an i64 of these.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The deadline of `SET ... EX|PX n` as Redis 7.0's getExpireMillisecondsOrReply decides it: n must be an
/// integer above 0, and now + n (in ms) must fit an i64.
fn set_deadline(n: &[u8], unit_ms: i64, now: Instant) -> Result<Instant, &'static [u8]> {
    let n = parse_i64(n).ok_or(NOT_AN_INTEGER)?;
    if n <= 0 {
        return Err(EXPIRE_TIME_SET);
    }
    let ms = n.checked_mul(unit_ms).ok_or(EXPIRE_TIME_SET)?;
    if ms > i64::MAX - unix_ms() {
        return Err(EXPIRE_TIME_SET);
    }
    now.checked_add(Duration::from_millis(ms as u64))
        .ok_or(EXPIRE_TIME_SET)
}

/// GET key
pub fn get(store: &mut Store, key: &[u8], now: Instant, protocol: Protocol, out: &mut Vec<u8>) {
    match store.get(key, now) {
        Some(value) => reply::bulk(out, value),
        None => reply::nil(out, protocol),
    }
}

/// INCR, DECR (`delta` ±1) and INCRBY (`delta` the argument, still unparsed).
pub fn incr_by(
    store: &mut Store,
    key: &[u8],
    delta: Result<i64, &[u8]>,
    now: Instant,
    out: &mut Vec<u8>,
) {
    let delta = match delta {
        Ok(d) => d,
        Err(text) => match parse_i64(text) {
            Some(d) => d,
            None => return reply::error(out, NOT_AN_INTEGER),
        },
    };
    match store.incr_by(key, delta, now) {
        Ok(n) => reply::integer(out, n),
        Err(e) => reply::error(out, e.message()),
    }
}

/// EXPIRE key seconds
pub fn expire(store: &mut Store, key: &[u8], seconds: &[u8], now: Instant, out: &mut Vec<u8>) {
    let Some(seconds) = parse_i64(seconds) else {
        return reply::error(out, NOT_AN_INTEGER);
    };
    // Redis's expireGenericCommand: the deadline in Unix milliseconds must fit an i64.
    let Some(ms) = seconds.checked_mul(1000) else {
        return reply::error(out, EXPIRE_TIME_EXPIRE);
    };
    if ms > i64::MAX - unix_ms() {
        return reply::error(out, EXPIRE_TIME_EXPIRE);
    }
    let deadline = if ms <= 0 {
        None
    } else {
        // A deadline past what Instant holds is as good as never; none fits i64 ms anyway.
        match now.checked_add(Duration::from_millis(ms as u64)) {
            Some(at) => Some(at),
            None => return reply::error(out, EXPIRE_TIME_EXPIRE),
        }
    };
    reply::integer(out, i64::from(store.expire_at(key, deadline, now)));
}

/// TTL key
pub fn ttl(store: &mut Store, key: &[u8], now: Instant, out: &mut Vec<u8>) {
    match store.ttl(key, now) {
        None => reply::integer(out, -2),
        Some(None) => reply::integer(out, -1),
        // Redis rounds the remaining milliseconds to the nearest second.
        Some(Some(ms)) => reply::integer(out, ((ms + 500) / 1000).min(i64::MAX as u128) as i64),
    }
}

/// SET key value [NX|XX] [EX seconds|PX milliseconds|KEEPTTL] [GET]
///
/// Options are checked as Redis 7.0 checks them: the same option may repeat (the last EX or PX wins), NX with
/// XX or two kinds of TTL are a syntax error, and the TTL is judged only once every option parsed.
pub fn set(store: &mut Store, args: &[&[u8]], now: Instant, protocol: Protocol, out: &mut Vec<u8>) {
    enum Ttl<'a> {
        None,
        Keep,
        Ex(&'a [u8]),
        Px(&'a [u8]),
    }
    let mut condition = SetCondition::Always;
    let mut ttl = Ttl::None;
    let mut want_old = false;
    let mut i = 3;
    while i < args.len() {
        let opt = args[i];
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        let next = args.get(i + 1).copied();
        if is(b"NX") && condition != SetCondition::IfPresent {
            condition = SetCondition::IfAbsent;
        } else if is(b"XX") && condition != SetCondition::IfAbsent {
            condition = SetCondition::IfPresent;
        } else if is(b"GET") {
            want_old = true;
        } else if is(b"KEEPTTL") && matches!(ttl, Ttl::None | Ttl::Keep) {
            ttl = Ttl::Keep;
        } else if let (true, Some(n), Ttl::None | Ttl::Ex(_)) = (is(b"EX"), next, &ttl) {
            ttl = Ttl::Ex(n);
            i += 1;
        } else if let (true, Some(n), Ttl::None | Ttl::Px(_)) = (is(b"PX"), next, &ttl) {
            ttl = Ttl::Px(n);
            i += 1;
        } else {
            return reply::error(out, SYNTAX);
        }
        i += 1;
    }
    let ttl = match ttl {
        Ttl::None => SetTtl::Clear,
        Ttl::Keep => SetTtl::Keep,
        Ttl::Ex(n) | Ttl::Px(n) => {
            let unit_ms = if matches!(ttl, Ttl::Ex(_)) { 1000 } else { 1 };
            match set_deadline(n, unit_ms, now) {
                Ok(at) => SetTtl::At(at),
                Err(message) => return reply::error(out, message),
            }
        }
    };
    let (stored, old) = store.set(args[1], args[2], condition, ttl, now, want_old);
    if want_old {
        match old {
            Some(v) => reply::bulk(out, &v),
            None => reply::nil(out, protocol),
        }
    } else if stored {
        reply::simple(out, b"OK");
    } else {
        reply::nil(out, protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(store: &mut Store, args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let now = Instant::now();
        let (key, out_) = (args[1], &mut out);
        match args[0].to_ascii_uppercase().as_slice() {
            b"GET" => get(store, key, now, Protocol::Resp2, out_),
            b"SET" => set(store, args, now, Protocol::Resp2, out_),
            b"INCR" => incr_by(store, key, Ok(1), now, out_),
            b"DECR" => incr_by(store, key, Ok(-1), now, out_),
            b"INCRBY" => incr_by(store, key, Err(args[2]), now, out_),
            b"EXPIRE" => expire(store, key, args[2], now, out_),
            b"TTL" => ttl(store, key, now, out_),
            b"EXISTS" => reply::integer(out_, i64::from(store.exists(key, now))),
            b"DEL" => reply::integer(out_, i64::from(store.delete(key, now))),
            other => panic!("not a single-key command: {other:?}"),
        }
        out
    }

    #[test]
    fn set_get_with_options() {
        let mut s = Store::default();
        assert_eq!(run(&mut s, &[b"SET", b"k", b"v\r\n\0"]), b"+OK\r\n");
        assert_eq!(run(&mut s, &[b"GET", b"k"]), b"$4\r\nv\r\n\0\r\n");
        assert_eq!(run(&mut s, &[b"SET", b"k", b"x", b"NX"]), b"$-1\r\n");
        assert_eq!(run(&mut s, &[b"SET", b"n", b"x", b"XX"]), b"$-1\r\n");
        assert_eq!(
            run(&mut s, &[b"SET", b"k", b"x", b"XX", b"EX", b"100"]),
            b"+OK\r\n"
        );
        assert_eq!(run(&mut s, &[b"TTL", b"k"]), b":100\r\n");
        assert_eq!(
            run(&mut s, &[b"SET", b"k", b"y", b"PX", b"2600"]),
            b"+OK\r\n"
        );
        assert_eq!(run(&mut s, &[b"TTL", b"k"]), b":3\r\n");
        assert_eq!(
            run(&mut s, &[b"SET", b"k", b"x", b"NX", b"XX"]),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&mut s, &[b"SET", b"k", b"x", b"EX", b"0"]),
            b"-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(
            run(&mut s, &[b"SET", b"k", b"x", b"EX"]),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(run(&mut s, &[b"SET", b"k", b"z", b"GET"]), b"$1\r\ny\r\n");
    }

    /// Each reply as redis-server 7.0.15 gave it for the same command on loopback.
    #[test]
    fn integers_and_expire_times_are_judged_as_redis_judges_them() {
        const NAN: &[u8] = b"-ERR value is not an integer or out of range\r\n";
        const BAD_SET: &[u8] = b"-ERR invalid expire time in 'set' command\r\n";
        const BAD_EXPIRE: &[u8] = b"-ERR invalid expire time in 'expire' command\r\n";
        let mut s = Store::default();
        for value in [
            "007",
            "+1",
            " 1",
            "1 ",
            "-0",
            "00",
            "",
            "1.0",
            "9223372036854775808",
        ] {
            run(&mut s, &[b"SET", b"k", value.as_bytes()]);
            assert_eq!(run(&mut s, &[b"INCR", b"k"]), NAN, "INCR on {value:?}");
            assert_eq!(
                run(&mut s, &[b"INCRBY", b"n", value.as_bytes()]),
                NAN,
                "INCRBY {value:?}"
            );
        }
        run(&mut s, &[b"SET", b"k", b"-9223372036854775808"]);
        assert_eq!(run(&mut s, &[b"INCR", b"k"]), b":-9223372036854775807\r\n");

        let set = |s: &mut Store, opts: &[&[u8]]| {
            let mut args: Vec<&[u8]> = vec![b"SET", b"k", b"v"];
            args.extend_from_slice(opts);
            run(s, &args)
        };
        for (opts, reply) in [
            (&[&b"PX"[..], b"9223372036854775807"][..], BAD_SET),
            (&[b"PX", b"9223372030000000000"], BAD_SET),
            (&[b"EX", b"9223372036854775"], BAD_SET),
            (&[b"EX", b"9223372036854776"], BAD_SET),
            (&[b"PX", b"-1"], BAD_SET),
            (&[b"EX", b"007"], NAN),
            (&[b"PX", b"1.5"], NAN),
            (&[b"EX", b"abc", b"NX", b"XX"], b"-ERR syntax error\r\n"),
            (
                &[b"EX", b"9223372036854775", b"bogus"],
                b"-ERR syntax error\r\n",
            ),
            (&[b"EX", b"10", b"PX", b"5"], b"-ERR syntax error\r\n"),
            (&[b"EX", b"10", b"KEEPTTL"], b"-ERR syntax error\r\n"),
            (&[b"EX", b"9223372036854"], b"+OK\r\n"),
            (&[b"EX", b"10", b"EX", b"5"], b"+OK\r\n"),
            (&[b"PX", b"5000", b"PX", b"6000"], b"+OK\r\n"),
            (&[b"KEEPTTL", b"KEEPTTL"], b"+OK\r\n"),
            (&[b"NX", b"NX"], b"$-1\r\n"),
        ] {
            assert_eq!(set(&mut s, opts), reply, "SET k v {opts:?}");
        }
        assert_eq!(run(&mut s, &[b"TTL", b"k"]), b":6\r\n", "the last PX wins");

        for (seconds, reply) in [
            (&b"9223372036854775"[..], BAD_EXPIRE),
            (b"9223372036854775807", BAD_EXPIRE),
            (b"-9223372036854776", BAD_EXPIRE),
            (b"007", NAN),
            (b"1.5", NAN),
            (b"9200000000000000", b":1\r\n"),
            (b"-9223372036854775", b":1\r\n"),
        ] {
            set(&mut s, &[]);
            assert_eq!(
                run(&mut s, &[b"EXPIRE", b"k", seconds]),
                reply,
                "EXPIRE {seconds:?}"
            );
        }
    }

    #[test]
    fn counters_and_expiry() {
        let mut s = Store::default();
        assert_eq!(run(&mut s, &[b"INCR", b"c"]), b":1\r\n");
        assert_eq!(run(&mut s, &[b"INCRBY", b"c", b"10"]), b":11\r\n");
        assert_eq!(run(&mut s, &[b"DECR", b"c"]), b":10\r\n");
        assert_eq!(
            run(&mut s, &[b"INCRBY", b"c", b"x"]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(run(&mut s, &[b"TTL", b"c"]), b":-1\r\n");
        assert_eq!(run(&mut s, &[b"TTL", b"nope"]), b":-2\r\n");
        assert_eq!(run(&mut s, &[b"EXPIRE", b"c", b"50"]), b":1\r\n");
        assert_eq!(run(&mut s, &[b"EXPIRE", b"c", b"-1"]), b":1\r\n");
        assert_eq!(run(&mut s, &[b"EXISTS", b"c"]), b":0\r\n");
        assert_eq!(run(&mut s, &[b"DEL", b"c"]), b":0\r\n");
    }
}
