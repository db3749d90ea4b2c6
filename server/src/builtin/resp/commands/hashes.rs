//! Hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HGETALL, HDEL, HEXISTS, HLEN, HKEYS, HVALS, HINCRBY,
//! HINCRBYFLOAT, HSTRLEN, HRANDFIELD.

use pincore_resp::reply;

use super::collections::{integer, integer_arg, outcome, part, read_or_reply, size_of, ReplyBound};
use super::{wrong_arity, Call, Flow};
use crate::builtin::resp::decimal;
use crate::builtin::resp::kv::{format_float, parse_float, NOT_A_FLOAT};
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::types::{random_below, Hash, WrongType};

/// HSET and HMSET: the fields given, set; how many were new.
fn set_fields(c: &mut Call<'_>, name: &str) -> Option<Result<i64, WrongType>> {
    if !c.args.len().is_multiple_of(2) {
        wrong_arity(c, name);
        return None;
    }
    let pairs = c.args[2..].chunks_exact(2);
    let added = part!(c).change(c.args[1], c.now, true, |h: &mut Hash| {
        pairs.filter(|p| h.insert(p[0], p[1])).count() as i64
    });
    Some(added.map(Option::unwrap_or_default))
}

pub fn hset(c: &mut Call<'_>) -> Flow {
    if let Some(added) = set_fields(c, "hset") {
        integer(c, added);
    }
    Flow::Reply
}

pub fn hmset(c: &mut Call<'_>) -> Flow {
    match set_fields(c, "hmset") {
        Some(Ok(_)) => reply::simple(c.out, b"OK"),
        Some(Err(WrongType)) => reply::error(c.out, WrongType::MESSAGE),
        None => {}
    }
    Flow::Reply
}

pub fn hsetnx(c: &mut Call<'_>) -> Flow {
    let (field, value) = (c.args[2], c.args[3]);
    let set = part!(c).change(c.args[1], c.now, true, |h: &mut Hash| {
        h.get(field).is_none() && h.insert(field, value)
    });
    integer(c, set.map(|set| i64::from(set == Some(true))));
    Flow::Reply
}

pub fn hget(c: &mut Call<'_>) -> Flow {
    let mut part = part!(c);
    match part.read::<Hash>(c.args[1], c.now) {
        Ok(hash) => match hash.and_then(|h| h.get(c.args[2])) {
            Some(value) => reply::bulk(c.out, value),
            None => reply::nil(c.out, c.session.protocol),
        },
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

pub fn hmget(c: &mut Call<'_>) -> Flow {
    let mut part = part!(c);
    match part.read::<Hash>(c.args[1], c.now) {
        Ok(hash) => {
            let fields = &c.args[2..];
            reply::array(c.out, fields.len());
            for field in fields {
                match hash.and_then(|h| h.get(field)) {
                    Some(value) => reply::bulk(c.out, value),
                    None => reply::nil(c.out, c.session.protocol),
                }
            }
        }
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

/// HGETALL, HKEYS, HVALS: a map of every pair, or an array of the fields or the values.
fn list_pairs(c: &mut Call<'_>, fields: bool, values: bool) -> Flow {
    let mut part = part!(c);
    let Some(hash) = read_or_reply::<Hash>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    let len = hash.map_or(0, Hash::len);
    if fields && values {
        reply::map(c.out, c.session.protocol, len);
    } else {
        reply::array(c.out, len);
    }
    let bound = ReplyBound::start(c.resp, c.out);
    for (field, value) in hash.into_iter().flat_map(Hash::iter) {
        if fields {
            reply::bulk(c.out, field);
        }
        if values {
            reply::bulk(c.out, value);
        }
        if bound.full(c.out) {
            break;
        }
    }
    Flow::Reply
}

pub fn hgetall(c: &mut Call<'_>) -> Flow {
    list_pairs(c, true, true)
}

pub fn hkeys(c: &mut Call<'_>) -> Flow {
    list_pairs(c, true, false)
}

pub fn hvals(c: &mut Call<'_>) -> Flow {
    list_pairs(c, false, true)
}

pub fn hdel(c: &mut Call<'_>) -> Flow {
    let fields = &c.args[2..];
    let removed = part!(c).change(c.args[1], c.now, false, |h: &mut Hash| {
        fields.iter().filter(|f| h.remove(f)).count() as i64
    });
    integer(c, removed.map(Option::unwrap_or_default));
    Flow::Reply
}

pub fn hexists(c: &mut Call<'_>) -> Flow {
    let field = c.args[2];
    let found = part!(c)
        .read::<Hash>(c.args[1], c.now)
        .map(|h| i64::from(h.is_some_and(|h| h.get(field).is_some())));
    integer(c, found);
    Flow::Reply
}

pub fn hlen(c: &mut Call<'_>) -> Flow {
    size_of(c, Hash::len)
}

pub fn hstrlen(c: &mut Call<'_>) -> Flow {
    let field = c.args[2];
    let len = part!(c)
        .read::<Hash>(c.args[1], c.now)
        .map(|h| h.and_then(|h| h.get(field)).map_or(0, <[u8]>::len) as i64);
    integer(c, len);
    Flow::Reply
}

/// HINCRBY key field increment: Redis's errors, in Redis's order (the increment first, then the type).
pub fn hincrby(c: &mut Call<'_>) -> Flow {
    let Some(delta) = integer_arg(c, 3) else {
        return Flow::Reply;
    };
    let field = c.args[2];
    let result = part!(c).change(c.args[1], c.now, true, |h: &mut Hash| {
        let current = match h.get(field) {
            None => 0,
            Some(v) => parse_i64(v).ok_or(&b"ERR hash value is not an integer"[..])?,
        };
        let next = current
            .checked_add(delta)
            .ok_or(&b"ERR increment or decrement would overflow"[..])?;
        h.insert(field, itoa::Buffer::new().format(next).as_bytes());
        Ok(next)
    });
    outcome(c.out, result, None, reply::integer);
    Flow::Reply
}

pub fn hincrbyfloat(c: &mut Call<'_>) -> Flow {
    let Some(delta) = parse_float(c.args[3]) else {
        reply::error(c.out, NOT_A_FLOAT);
        return Flow::Reply;
    };
    if !delta.is_finite() {
        reply::error(c.out, b"ERR value is NaN or Infinity");
        return Flow::Reply;
    }
    let (field, increment) = (c.args[2], c.args[3]);
    let result = part!(c).change(c.args[1], c.now, true, |h: &mut Hash| {
        let (current, exact) = match h.get(field) {
            None => (0.0, decimal::sum(b"0", increment)),
            Some(v) => (
                parse_float(v).ok_or(&b"ERR hash value is not a float"[..])?,
                decimal::sum(v, increment),
            ),
        };
        let next = current + delta;
        if !next.is_finite() {
            return Err(&b"ERR increment would produce NaN or Infinity"[..]);
        }
        let text = exact.unwrap_or_else(|| format_float(next));
        h.insert(field, text.as_bytes());
        Ok(text)
    });
    outcome(c.out, result, None, |out, text| {
        reply::bulk(out, text.as_bytes())
    });
    Flow::Reply
}

/// HRANDFIELD key [count [WITHVALUES]], as Redis 7.0's `hrandfieldCommand`: without a count one field (or
/// nil); a positive count that many distinct fields (every field when it is the size or more); a negative
/// count that many fields, repeats allowed. With values, RESP3 pairs them in arrays of two.
pub fn hrandfield(c: &mut Call<'_>) -> Flow {
    let protocol = c.session.protocol;
    let (count, with_values) = match random_count(c, "withvalues") {
        Ok(parsed) => parsed,
        Err(()) => return Flow::Reply,
    };
    let mut part = part!(c);
    let Some(hash) = read_or_reply::<Hash>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    let Some(count) = count else {
        match hash.and_then(|h| h.nth(random_below(h.len()))) {
            Some((field, _)) => reply::bulk(c.out, field),
            None => reply::nil(c.out, protocol),
        }
        return Flow::Reply;
    };
    let Some(hash) = hash.filter(|_| count != 0) else {
        reply::array(c.out, 0);
        return Flow::Reply;
    };
    let indexes = random_indexes(hash.len(), count);
    let n = indexes.len();
    let pair = |out: &mut Vec<u8>, (field, value): (&[u8], &[u8])| {
        if with_values && protocol == reply::Protocol::Resp3 {
            reply::array(out, 2);
        }
        reply::bulk(out, field);
        if with_values {
            reply::bulk(out, value);
        }
    };
    let header = if with_values && protocol == reply::Protocol::Resp2 {
        n.saturating_mul(2)
    } else {
        n
    };
    reply::array(c.out, header);
    let bound = ReplyBound::start(c.resp, c.out);
    for index in indexes {
        if let Some(p) = hash.nth(index) {
            pair(c.out, p);
        }
        if bound.full(c.out) {
            break;
        }
    }
    Flow::Reply
}

/// The optional `count [option]` of HRANDFIELD (`withvalues`) and ZRANDMEMBER (`withscores`), checked as
/// Redis 7.0 checks them; an error reply is written for `Err`.
pub fn random_count(c: &mut Call<'_>, option: &str) -> Result<(Option<i64>, bool), ()> {
    if c.args.len() < 3 {
        return Ok((None, false));
    }
    let count = match parse_i64(c.args[2]) {
        Some(i64::MIN) => {
            reply::error(
                c.out,
                b"ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            );
            return Err(());
        }
        Some(n) => n,
        None => {
            reply::error(c.out, b"ERR value is not an integer or out of range");
            return Err(());
        }
    };
    if c.args.len() > 4 || (c.args.len() == 4 && !c.args[3].eq_ignore_ascii_case(option.as_bytes()))
    {
        reply::error(c.out, b"ERR syntax error");
        return Err(());
    }
    let with = c.args.len() == 4;
    if with && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        reply::error(c.out, b"ERR value is out of range");
        return Err(());
    }
    Ok((Some(count), with))
}

/// The positions HRANDFIELD, SRANDMEMBER and SPOP pick among `len` (> 0): `count` distinct ones (all of
/// them, in order, when `count` ≥ `len`), or with a negative `count` that many picked independently.
/// Lazily, so a huge negative count is only as much work as the reply that is sent.
pub fn random_indexes(len: usize, count: i64) -> Box<dyn ExactSizeIterator<Item = usize>> {
    if count < 0 {
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        return Box::new((0..n).map(move |_| random_below(len)));
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= len {
        return Box::new(0..len);
    }
    if count.saturating_mul(4) < len {
        // Few of many: draw until `count` distinct ones came up, in the order drawn (at most 4/3 draws each
        // on average), without a vector of every position.
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut picked = Vec::with_capacity(count);
        while picked.len() < count {
            let i = random_below(len);
            if seen.insert(i) {
                picked.push(i);
            }
        }
        return Box::new(picked.into_iter());
    }
    // A partial Fisher-Yates shuffle: `count` distinct positions at random.
    let mut all: Vec<usize> = (0..len).collect();
    for i in 0..count {
        let j = i + random_below(len - i);
        all.swap(i, j);
    }
    all.truncate(count);
    Box::new(all.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_positions_are_distinct_for_a_positive_count_and_within_range() {
        for (len, count, expected) in [(1000, 3, 3), (10, 5, 5), (10, 20, 10), (1, 1, 1)] {
            let mut picked: Vec<usize> = random_indexes(len, count).collect();
            assert_eq!(picked.len(), expected);
            assert!(picked.iter().all(|&i| i < len));
            picked.sort_unstable();
            picked.dedup();
            assert_eq!(picked.len(), expected, "distinct, {count} of {len}");
        }
        let repeated = random_indexes(2, -50);
        assert_eq!(repeated.len(), 50);
        assert!(repeated.into_iter().all(|i| i < 2));
    }
}
