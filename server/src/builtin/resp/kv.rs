//! What the single-key commands mean: arguments in, an encoded RESP reply out, on the keyspace part that holds
//! the key (locked by the caller, see [`super::keyspace`]).

use std::time::Instant;

use pincore_resp::reply::{self, Protocol};

use super::decimal;
use super::expiry::{
    string_deadline, string_options, Clock, ExpireCondition, StringOptions, Ttl, NOT_AN_INTEGER,
};
use super::store::{parse_i64, SetTtl, Store};
use super::types::{Kind, WrongType};

pub const NOT_A_FLOAT: &[u8] = b"ERR value is not a valid float";

/// Redis's words for a value that would outgrow the bulk limit; the limit named is pincore's own setting.
pub const TOO_LONG: &[u8] = b"ERR string exceeds maximum allowed size (limits.max_bulk_len)";

/// GET key: whether the key was found.
pub fn get(
    store: &mut Store,
    key: &[u8],
    now: Instant,
    protocol: Protocol,
    out: &mut Vec<u8>,
) -> bool {
    match store.get(key, now) {
        Ok(Some(value)) => {
            reply::bulk(out, value);
            true
        }
        Ok(None) => {
            reply::nil(out, protocol);
            false
        }
        // Found, of another kind: Redis counts the read as a hit before it checks the type.
        Err(WrongType) => {
            reply::error(out, WrongType::MESSAGE);
            true
        }
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

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: gives `key` the deadline `when` (Unix ms, see
/// [`super::expiry::expire_when`]) if `condition` allows; a deadline already past deletes the key. 1 if it
/// was set (or the key deleted), 0 if the key is missing or the condition refused.
pub fn expire(
    store: &mut Store,
    key: &[u8],
    when: i64,
    condition: ExpireCondition,
    clock: &Clock,
    now: Instant,
) -> i64 {
    let Some(current) = store.expiry(key, now) else {
        return 0;
    };
    if !condition.allows(current.map(|at| clock.unix_ms_of(at)), when) {
        return 0;
    }
    let deadline = (when > clock.unix_ms()).then(|| clock.instant_at(when));
    i64::from(store.expire_at(key, deadline, now))
}

/// TTL, PTTL (`ms`), EXPIRETIME, PEXPIRETIME (`absolute`): -2 for a missing key, -1 for one without TTL;
/// seconds are rounded to the nearest, as Redis does.
pub fn ttl(
    store: &mut Store,
    key: &[u8],
    clock: &Clock,
    now: Instant,
    ms: bool,
    absolute: bool,
) -> i64 {
    let at = match store.expiry(key, now) {
        None => return -2,
        Some(None) => return -1,
        Some(Some(at)) => at,
    };
    let n = if absolute {
        clock.unix_ms_of(at)
    } else {
        i64::try_from(at.saturating_duration_since(now).as_millis()).unwrap_or(i64::MAX)
    };
    if ms {
        n
    } else {
        n.saturating_add(500) / 1000
    }
}

/// SET and its variants (SETNX, SETEX, PSETEX, GETSET): the deadline is judged first, then the condition;
/// `Ok((stored, previous value if options.get))`, or the error reply.
pub fn write_string(
    store: &mut Store,
    key: &[u8],
    value: &[u8],
    options: StringOptions<'_>,
    clock: &Clock,
    now: Instant,
    command: &str,
) -> Result<(bool, Option<Vec<u8>>), Vec<u8>> {
    let ttl = match string_deadline(options.ttl, clock, command)? {
        Some(at) => SetTtl::At(at),
        None if options.ttl == Ttl::Keep => SetTtl::Keep,
        None => SetTtl::Clear,
    };
    // SET ... GET reads the old value as GET does: a collection is the wrong type, and nothing is set.
    if options.get && store.kind(key, now).is_some_and(|k| k != Kind::String) {
        return Err(WrongType::MESSAGE.to_vec());
    }
    Ok(store.set(key, value, options.condition, ttl, now, options.get))
}

/// SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-seconds|PXAT unix-ms|KEEPTTL]
///
/// Options are checked as Redis 7.0 checks them (see [`string_options`]): every option is read before the
/// TTL is judged.
pub fn set(
    store: &mut Store,
    args: &[&[u8]],
    clock: &Clock,
    now: Instant,
    protocol: Protocol,
    out: &mut Vec<u8>,
) {
    let written = string_options(&args[3..], true)
        .map_err(<[u8]>::to_vec)
        .and_then(|options| {
            let written = write_string(store, args[1], args[2], options, clock, now, "set")?;
            Ok((options.get, written))
        });
    match written {
        Err(message) => reply::error(out, &message),
        Ok((true, (_, Some(old)))) => reply::bulk(out, &old),
        Ok((true, (_, None)) | (false, (false, _))) => reply::nil(out, protocol),
        Ok((false, (true, _))) => reply::simple(out, b"OK"),
    }
}

/// GETEX key [EX seconds|PX milliseconds|EXAT unix-seconds|PXAT unix-ms|PERSIST]: the value, and then the
/// TTL changed; a missing key is nil whatever the options' values (Redis judges them only for a key).
pub fn getex(
    store: &mut Store,
    args: &[&[u8]],
    clock: &Clock,
    now: Instant,
    protocol: Protocol,
    out: &mut Vec<u8>,
) {
    let options = match string_options(&args[2..], false) {
        Ok(options) => options,
        Err(message) => return reply::error(out, message),
    };
    let key = args[1];
    match store.kind(key, now) {
        None => return reply::nil(out, protocol),
        Some(Kind::String) => {}
        // Judged before the deadline, and the TTL of a key of another kind is left alone.
        Some(_) => return reply::error(out, WrongType::MESSAGE),
    }
    let deadline = match string_deadline(options.ttl, clock, "getex") {
        Ok(deadline) => deadline,
        Err(message) => return reply::error(out, &message),
    };
    get(store, key, now, protocol, out);
    match (options.ttl, deadline) {
        (Ttl::Persist, _) => {
            store.persist(key, now);
        }
        (_, Some(at)) => {
            // A deadline already past (EXAT in the past) deletes the key, as Redis does.
            store.expire_at(key, (at > clock.instant()).then_some(at), now);
        }
        _ => {}
    }
}

/// `size + append` over the bulk limit (or overflowing), as Redis's `checkStringLength`.
fn too_long(size: u64, append: u64, max: usize) -> bool {
    size.checked_add(append)
        .is_none_or(|total| total > max as u64)
}

/// APPEND key value: the new length, within `max` bytes.
pub fn append(
    store: &mut Store,
    key: &[u8],
    value: &[u8],
    max: usize,
    now: Instant,
) -> Result<i64, &'static [u8]> {
    let (joined, existed) = match store.get(key, now).map_err(|_| WrongType::MESSAGE)? {
        None => (value.to_vec(), false),
        Some(old) if too_long(old.len() as u64, value.len() as u64, max) => return Err(TOO_LONG),
        Some(old) => ([old, value].concat(), true),
    };
    store.set(key, &joined, Default::default(), SetTtl::Keep, now, false);
    if existed {
        // Redis appends to the string in place, which makes it `raw` (a new key is encoded as SET's).
        store.mark_raw(key);
    }
    Ok(joined.len() as i64)
}

/// SETRANGE key offset value: overwrites from `offset`, padding with zero bytes; the new length, within
/// `max` bytes. An empty value changes nothing (and creates no key).
pub fn setrange(
    store: &mut Store,
    key: &[u8],
    offset: &[u8],
    value: &[u8],
    max: usize,
    now: Instant,
) -> Result<i64, &'static [u8]> {
    let offset = parse_i64(offset).ok_or(NOT_AN_INTEGER)?;
    let offset = u64::try_from(offset).map_err(|_| &b"ERR offset is out of range"[..])?;
    let old = store.get(key, now).map_err(|_| WrongType::MESSAGE)?;
    let old_len = old.map_or(0, <[u8]>::len);
    if value.is_empty() {
        return Ok(old_len as i64);
    }
    if too_long(offset, value.len() as u64, max) {
        return Err(TOO_LONG);
    }
    // Within `max`, which is a usize.
    let (offset, end) = (offset as usize, offset as usize + value.len());
    let mut new = old.map(<[u8]>::to_vec).unwrap_or_default();
    if new.len() < end {
        new.resize(end, 0);
    }
    new[offset..end].copy_from_slice(value);
    store.set(key, &new, Default::default(), SetTtl::Keep, now, false);
    store.mark_raw(key);
    Ok(new.len() as i64)
}

/// A bit offset as Redis reads one for SETBIT and GETBIT: an integer from 0 below 2^32 (a 512 MiB value).
fn bit_offset(arg: &[u8]) -> Result<u64, &'static [u8]> {
    parse_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n < 1 << 32)
        .ok_or(&b"ERR bit offset is not an integer or out of range"[..])
}

/// The byte of a value holding bit `offset`, and the bit's mask there: bit 0 is the most significant bit
/// of the first byte, as in Redis.
fn bit_at(offset: u64) -> (usize, u8) {
    ((offset >> 3) as usize, 0x80 >> (offset & 7))
}

/// SETBIT key offset 0|1: sets or clears one bit, growing the value with zero bytes (within `max` bytes);
/// answers the bit it replaced.
pub fn setbit(
    store: &mut Store,
    key: &[u8],
    offset: &[u8],
    bit: &[u8],
    max: usize,
    now: Instant,
) -> Result<i64, &'static [u8]> {
    let offset = bit_offset(offset)?;
    let on = match bit {
        b"0" => false,
        b"1" => true,
        _ => return Err(b"ERR bit is not an integer or out of range"),
    };
    let old = store.get(key, now).map_err(|_| WrongType::MESSAGE)?;
    let (byte, mask) = bit_at(offset);
    if too_long(byte as u64, 1, max) {
        return Err(TOO_LONG);
    }
    let mut new = old.map(<[u8]>::to_vec).unwrap_or_default();
    if new.len() <= byte {
        new.resize(byte + 1, 0);
    }
    let was = new[byte] & mask != 0;
    if on {
        new[byte] |= mask;
    } else {
        new[byte] &= !mask;
    }
    store.set(key, &new, Default::default(), SetTtl::Keep, now, false);
    store.mark_raw(key);
    Ok(i64::from(was))
}

/// GETBIT key offset: the bit, 0 past the end of the value or for a missing key.
pub fn getbit(
    store: &mut Store,
    key: &[u8],
    offset: &[u8],
    now: Instant,
) -> Result<i64, &'static [u8]> {
    let offset = bit_offset(offset)?;
    let value = store
        .get(key, now)
        .map_err(|_| WrongType::MESSAGE)?
        .unwrap_or_default();
    let (byte, mask) = bit_at(offset);
    Ok(value.get(byte).map_or(0, |b| i64::from(b & mask != 0)))
}

/// GETRANGE key start end (and SUBSTR): negative indexes count from the end, both ends included, clamped
/// to the value as Redis 7.0's `getrangeCommand` does; a missing key is the empty string.
pub fn getrange(store: &mut Store, args: &[&[u8]], now: Instant, out: &mut Vec<u8>) {
    let (Some(start), Some(end)) = (parse_i64(args[2]), parse_i64(args[3])) else {
        return reply::error(out, NOT_AN_INTEGER);
    };
    let value = match store.get(args[1], now) {
        Ok(value) => value.unwrap_or_default(),
        Err(WrongType) => return reply::error(out, WrongType::MESSAGE),
    };
    let len = value.len() as i128;
    let (mut start, mut end) = (i128::from(start), i128::from(end));
    if start < 0 && end < 0 && start > end {
        return reply::bulk(out, b"");
    }
    if start < 0 {
        start = (len + start).max(0);
    }
    if end < 0 {
        end = (len + end).max(0);
    }
    end = end.min(len - 1);
    if start > end || len == 0 {
        return reply::bulk(out, b"");
    }
    reply::bulk(out, &value[start as usize..=end as usize]);
}

/// A float as Redis's `string2ld` reads one: no leading space, nothing after the number, not NaN.
///
/// Redis computes in C's `long double` (80-bit on x86-64); pincore in f64, so values need more than 15
/// significant digits, or beyond 1e308, to differ.
pub fn parse_float(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let value: f64 = text.parse().ok()?;
    let spelled_infinite = text
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase()
        .starts_with("inf");
    (!value.is_nan() && (value.is_finite() || spelled_infinite)).then_some(value)
}

/// A float as Redis's `ld2string` in human mode writes one: fixed-point, at most 17 decimals, trailing
/// zeros dropped; f64 is trusted to 15 significant digits, so its rounding noise never shows.
pub fn format_float(value: f64) -> String {
    let magnitude = if value == 0.0 {
        0
    } else {
        value.abs().log10().floor() as i32
    };
    let decimals = (14 - magnitude).clamp(0, 17) as usize;
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

/// INCRBYFLOAT key increment: the new value as text, keeping the key's TTL. The sum is exact when both
/// numbers are plain decimals (see [`decimal`]), as Redis's wider `long double` makes it; f64 otherwise.
pub fn incr_by_float(
    store: &mut Store,
    key: &[u8],
    increment: &[u8],
    now: Instant,
) -> Result<String, &'static [u8]> {
    let (current, exact) = match store.get(key, now).map_err(|_| WrongType::MESSAGE)? {
        None => (0.0, decimal::sum(b"0", increment)),
        Some(value) => (
            parse_float(value).ok_or(NOT_A_FLOAT)?,
            decimal::sum(value, increment),
        ),
    };
    let value = current + parse_float(increment).ok_or(NOT_A_FLOAT)?;
    if !value.is_finite() {
        return Err(b"ERR increment would produce NaN or Infinity");
    }
    let text = exact.unwrap_or_else(|| format_float(value));
    store.set(
        key,
        text.as_bytes(),
        Default::default(),
        SetTtl::Keep,
        now,
        false,
    );
    // Redis makes the result a string object, never an `int`, even when it reads as one.
    store.mark_string(key);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::resp::expiry::expire_when;

    fn run(store: &mut Store, args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let clock = Clock::now();
        let now = clock.instant();
        let (key, out_) = (args[1], &mut out);
        match args[0].to_ascii_uppercase().as_slice() {
            b"GET" => {
                get(store, key, now, Protocol::Resp2, out_);
            }
            b"SET" => set(store, args, &clock, now, Protocol::Resp2, out_),
            b"INCR" => incr_by(store, key, Ok(1), now, out_),
            b"DECR" => incr_by(store, key, Ok(-1), now, out_),
            b"INCRBY" => incr_by(store, key, Err(args[2]), now, out_),
            b"EXPIRE" => match expire_when(args[2], 1000, true, &clock, "expire") {
                Ok(when) => {
                    let set = expire(store, key, when, Default::default(), &clock, now);
                    reply::integer(out_, set)
                }
                Err(message) => reply::error(out_, &message),
            },
            b"TTL" => reply::integer(out_, ttl(store, key, &clock, now, false, false)),
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
    fn floats_are_written_as_redis_writes_them() {
        for (value, text) in [
            (0.1 + 0.2, "0.3"),
            (17179869185.5, "17179869185.5"),
            (1e20, "100000000000000000000"),
            (-0.0, "0"),
            (1.0 / 3.0 - 1.0 / 3.0, "0"),
            (-0.1, "-0.1"),
            (3.0, "3"),
            (1e-20, "0"),
        ] {
            assert_eq!(format_float(value), text, "{value}");
        }
        for bad in ["", " 1", "1 ", "nan", "abc", "1e400"] {
            assert_eq!(parse_float(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"5."), Some(5.0));
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
