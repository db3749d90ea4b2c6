//! What the single-key commands mean: arguments in, an encoded RESP reply out, on the owning shard's store.
//!
//! The same function serves a key owned by the shard that parsed the command and one forwarded over the
//! cross-shard channels, so both paths give byte-identical replies.

use std::time::{Duration, Instant};

use pincore_resp::reply;

use crate::command::Command;
use crate::store::{parse_i64, SetCondition, SetTtl, Store};

const NOT_AN_INTEGER: &[u8] = b"ERR value is not an integer or out of range";
const SYNTAX: &[u8] = b"ERR syntax error";

/// Executes a single-key command (`args[0]` is the name, `args[1]` the key; arity already checked).
pub fn execute(
    store: &mut Store,
    command: Command,
    args: &[&[u8]],
    now: Instant,
    out: &mut Vec<u8>,
) {
    let key = args[1];
    match command {
        Command::Get => match store.get(key, now) {
            Some(value) => reply::bulk(out, value),
            None => reply::null(out),
        },
        Command::Set => set(store, args, now, out),
        Command::Del => reply::integer(out, i64::from(store.delete(key, now))),
        Command::Exists => reply::integer(out, i64::from(store.exists(key, now))),
        Command::Incr | Command::Decr | Command::IncrBy => {
            let delta = match command {
                Command::Incr => 1,
                Command::Decr => -1,
                _ => match parse_i64(args[2]) {
                    Some(d) => d,
                    None => return reply::error(out, NOT_AN_INTEGER),
                },
            };
            match store.incr_by(key, delta, now) {
                Ok(n) => reply::integer(out, n),
                Err(e) => reply::error(out, e.message()),
            }
        }
        Command::Expire => {
            let Some(seconds) = parse_i64(args[2]) else {
                return reply::error(out, NOT_AN_INTEGER);
            };
            let deadline = if seconds <= 0 {
                None
            } else {
                match now.checked_add(Duration::from_secs(seconds as u64)) {
                    Some(at) => Some(at),
                    None => {
                        return reply::error(out, b"ERR invalid expire time in 'expire' command")
                    }
                }
            };
            reply::integer(out, i64::from(store.expire_at(key, deadline, now)));
        }
        Command::Ttl => match store.ttl(key, now) {
            None => reply::integer(out, -2),
            Some(None) => reply::integer(out, -1),
            // Redis rounds the remaining milliseconds to the nearest second.
            Some(Some(ms)) => reply::integer(out, ((ms + 500) / 1000).min(i64::MAX as u128) as i64),
        },
        _ => reply::error(out, b"ERR internal: not a single-key command"),
    }
}

/// SET key value [NX|XX] [EX seconds|PX milliseconds|KEEPTTL] [GET]
fn set(store: &mut Store, args: &[&[u8]], now: Instant, out: &mut Vec<u8>) {
    let mut condition = SetCondition::Always;
    let mut ttl = SetTtl::Clear;
    let mut ttl_given = false;
    let mut want_old = false;
    let mut i = 3;
    while i < args.len() {
        let opt = args[i];
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        if is(b"NX") && condition == SetCondition::Always {
            condition = SetCondition::IfAbsent;
        } else if is(b"XX") && condition == SetCondition::Always {
            condition = SetCondition::IfPresent;
        } else if is(b"GET") && !want_old {
            want_old = true;
        } else if is(b"KEEPTTL") && !ttl_given {
            ttl = SetTtl::Keep;
            ttl_given = true;
        } else if (is(b"EX") || is(b"PX")) && !ttl_given && i + 1 < args.len() {
            let unit_ms: u64 = if is(b"EX") { 1000 } else { 1 };
            let Some(n) = parse_i64(args[i + 1]) else {
                return reply::error(out, NOT_AN_INTEGER);
            };
            let at = (n > 0)
                .then(|| (n as u64).checked_mul(unit_ms))
                .flatten()
                .and_then(|ms| now.checked_add(Duration::from_millis(ms)));
            match at {
                Some(at) => ttl = SetTtl::At(at),
                None => return reply::error(out, b"ERR invalid expire time in 'set' command"),
            }
            ttl_given = true;
            i += 1;
        } else {
            return reply::error(out, SYNTAX);
        }
        i += 1;
    }
    let (stored, old) = store.set(args[1], args[2], condition, ttl, now, want_old);
    if want_old {
        match old {
            Some(v) => reply::bulk(out, &v),
            None => reply::null(out),
        }
    } else if stored {
        reply::simple(out, b"OK");
    } else {
        reply::null(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(store: &mut Store, args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        execute(
            store,
            Command::lookup(args[0]),
            args,
            Instant::now(),
            &mut out,
        );
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
