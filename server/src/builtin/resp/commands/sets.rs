//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SINTER, SUNION,
//! SDIFF, SINTERSTORE, SUNIONSTORE, SDIFFSTORE, SMOVE, SINTERCARD. Commands over several keys hold every
//! part they touch (ascending order, see [`crate::builtin::resp::keyspace`]) for the whole command.

use pincore_resp::reply;

use super::collections::{
    integer, optional_count, part, read_or_reply, size_of, store_result, ReplyBound,
};
use super::hashes::random_indexes;
use super::{Call, Flow};
use crate::builtin::resp::expiry::SYNTAX;
use crate::builtin::resp::keyspace::KeyParts;
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::types::{random_below, Kind, Set, WrongType};
use crate::builtin::resp::Resp;
use pincore_resp::reply::Protocol;

pub fn sadd(c: &mut Call<'_>) -> Flow {
    let members = &c.args[2..];
    let added = part!(c).change(c.args[1], c.now, true, |s: &mut Set| {
        members.iter().filter(|m| s.insert(m)).count() as i64
    });
    integer(c, added.map(Option::unwrap_or_default));
    Flow::Reply
}

pub fn srem(c: &mut Call<'_>) -> Flow {
    let members = &c.args[2..];
    let removed = part!(c).change(c.args[1], c.now, false, |s: &mut Set| {
        members.iter().filter(|m| s.remove(m)).count() as i64
    });
    integer(c, removed.map(Option::unwrap_or_default));
    Flow::Reply
}

/// Writes `set` as a RESP3 set (an array in RESP2), stopping if the reply outgrows its bound.
fn reply_set(resp: &Resp, protocol: Protocol, out: &mut Vec<u8>, set: Option<&Set>) {
    reply::set(out, protocol, set.map_or(0, Set::len));
    let bound = ReplyBound::start(resp, out);
    for member in set.into_iter().flat_map(Set::iter) {
        reply::bulk(out, &member);
        if bound.full(out) {
            break;
        }
    }
}

pub fn smembers(c: &mut Call<'_>) -> Flow {
    let mut part = part!(c);
    match part.read::<Set>(c.args[1], c.now) {
        Ok(set) => reply_set(c.resp, c.session.protocol, c.out, set),
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

pub fn sismember(c: &mut Call<'_>) -> Flow {
    let member = c.args[2];
    let found = part!(c)
        .read::<Set>(c.args[1], c.now)
        .map(|s| i64::from(s.is_some_and(|s| s.contains(member))));
    integer(c, found);
    Flow::Reply
}

pub fn smismember(c: &mut Call<'_>) -> Flow {
    let mut part = part!(c);
    match part.read::<Set>(c.args[1], c.now) {
        Ok(set) => {
            let members = &c.args[2..];
            reply::array(c.out, members.len());
            for m in members {
                reply::integer(c.out, i64::from(set.is_some_and(|s| s.contains(m))));
            }
        }
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

pub fn scard(c: &mut Call<'_>) -> Flow {
    size_of(c, Set::len)
}

/// SPOP key [count]: one random member, or up to `count` distinct ones as a set.
pub fn spop(c: &mut Call<'_>) -> Flow {
    let Ok(count) = optional_count(c) else {
        return Flow::Reply;
    };
    let protocol = c.session.protocol;
    let (args, now) = (c.args, c.now);
    let out = &mut *c.out;
    let popped = c
        .parts
        .lock(args[1])
        .change(args[1], now, false, |s: &mut Set| match count {
            None => {
                if let Some(m) = s.take_nth(random_below(s.len())) {
                    reply::bulk(out, &m);
                }
            }
            Some(n) => {
                let n = n.min(s.len());
                reply::set(out, protocol, n);
                for _ in 0..n {
                    if let Some(m) = s.take_nth(random_below(s.len())) {
                        reply::bulk(out, &m);
                    }
                }
            }
        });
    match popped {
        Ok(Some(())) => {}
        Ok(None) if count.is_some() => reply::set(c.out, protocol, 0),
        Ok(None) => reply::nil(c.out, protocol),
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

/// SRANDMEMBER key [count]: as HRANDFIELD, over members.
pub fn srandmember(c: &mut Call<'_>) -> Flow {
    let count = match c.args.len() {
        2 => None,
        3 => match parse_i64(c.args[2]) {
            Some(i64::MIN) => {
                reply::error(
                    c.out,
                    b"ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                );
                return Flow::Reply;
            }
            Some(n) => Some(n),
            None => {
                reply::error(c.out, crate::builtin::resp::expiry::NOT_AN_INTEGER);
                return Flow::Reply;
            }
        },
        _ => {
            reply::error(c.out, SYNTAX);
            return Flow::Reply;
        }
    };
    let protocol = c.session.protocol;
    let mut part = part!(c);
    let Some(set) = read_or_reply::<Set>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    let Some(count) = count else {
        match set.and_then(|s| s.nth(random_below(s.len()))) {
            Some(m) => reply::bulk(c.out, &m),
            None => reply::nil(c.out, protocol),
        }
        return Flow::Reply;
    };
    let Some(set) = set.filter(|_| count != 0) else {
        reply::array(c.out, 0);
        return Flow::Reply;
    };
    let indexes = random_indexes(set.len(), count);
    reply::array(c.out, indexes.len());
    let bound = ReplyBound::start(c.resp, c.out);
    for index in indexes {
        if let Some(m) = set.nth(index) {
            reply::bulk(c.out, &m);
        }
        if bound.full(c.out) {
            break;
        }
    }
    Flow::Reply
}

/// The sets at `keys` (missing ones as `None`), or WRONGTYPE if any key holds something else. Borrowed from
/// the held parts: nothing is copied, and nothing expires while they are held.
fn sets_of<'l>(
    locked: &'l mut KeyParts<'_>,
    keys: &[&[u8]],
    now: std::time::Instant,
) -> Result<Vec<Option<&'l Set>>, WrongType> {
    for k in keys {
        if locked
            .store(k)
            .kind(k, now)
            .is_some_and(|kind| kind != Kind::Set)
        {
            return Err(WrongType);
        }
    }
    let locked = &*locked;
    Ok(keys.iter().map(|k| locked.peek(k).peek::<Set>(k)).collect())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    Inter,
    Union,
    Diff,
}

/// The result of `operation` over `sets`, as Redis builds it: the intersection walks the smallest set, the
/// union and difference fill a new set in key order.
fn combine(operation: Operation, sets: &[Option<&Set>], limit: usize) -> Set {
    let mut result = Set::default();
    match operation {
        Operation::Inter => {
            if sets.iter().any(Option::is_none) {
                return result;
            }
            let mut sets: Vec<&Set> = sets.iter().flatten().copied().collect();
            sets.sort_by_key(|s| s.len());
            let Some((smallest, rest)) = sets.split_first() else {
                return result;
            };
            for member in smallest.iter() {
                if rest.iter().all(|s| s.contains(&member)) {
                    result.insert(&member);
                    if result.len() == limit {
                        break;
                    }
                }
            }
        }
        Operation::Union => {
            for member in sets.iter().flatten().flat_map(|s| s.iter()) {
                result.insert(&member);
            }
        }
        Operation::Diff => {
            let Some(Some(first)) = sets.first() else {
                return result;
            };
            for member in first.iter() {
                if !sets[1..].iter().flatten().any(|s| s.contains(&member)) {
                    result.insert(&member);
                }
            }
        }
    }
    result
}

/// SINTER, SUNION, SDIFF (`store` false) and their STORE forms: every key's part held at once.
fn operate(c: &mut Call<'_>, operation: Operation, store: bool) -> Flow {
    let (destination, keys) = if store {
        (Some(c.args[1]), &c.args[2..])
    } else {
        (None, &c.args[1..])
    };
    let mut locked = c.parts.lock_keys(keys.iter().copied().chain(destination));
    let sets = match sets_of(&mut locked, keys, c.now) {
        Ok(sets) => sets,
        Err(WrongType) => {
            reply::error(c.out, WrongType::MESSAGE);
            return Flow::Reply;
        }
    };
    let result = combine(operation, &sets, usize::MAX);
    match destination {
        Some(to) => store_result(&mut locked, to, result.into(), c.now, c.out),
        None => reply_set(c.resp, c.session.protocol, c.out, Some(&result)),
    }
    Flow::Reply
}

pub fn sinter(c: &mut Call<'_>) -> Flow {
    operate(c, Operation::Inter, false)
}

pub fn sunion(c: &mut Call<'_>) -> Flow {
    operate(c, Operation::Union, false)
}

pub fn sdiff(c: &mut Call<'_>) -> Flow {
    operate(c, Operation::Diff, false)
}

pub fn sinterstore(c: &mut Call<'_>) -> Flow {
    operate(c, Operation::Inter, true)
}

pub fn sunionstore(c: &mut Call<'_>) -> Flow {
    operate(c, Operation::Union, true)
}

pub fn sdiffstore(c: &mut Call<'_>) -> Flow {
    operate(c, Operation::Diff, true)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(c: &mut Call<'_>) -> Flow {
    // Redis gives one message for a count below 1 and one that is no integer at all.
    let keys = match parse_i64(c.args[1]) {
        None => Err(&b"ERR numkeys should be greater than 0"[..]),
        Some(n) if n < 1 => Err(&b"ERR numkeys should be greater than 0"[..]),
        Some(n) if n > c.args.len() as i64 - 2 => {
            Err(&b"ERR Number of keys can't be greater than number of args"[..])
        }
        Some(n) => Ok(n as usize),
    };
    let keys = match keys {
        Ok(n) => n,
        Err(message) => {
            reply::error(c.out, message);
            return Flow::Reply;
        }
    };
    let mut limit = 0usize;
    let mut i = 2 + keys;
    while i < c.args.len() {
        if !c.args[i].eq_ignore_ascii_case(b"LIMIT") || i + 1 == c.args.len() {
            reply::error(c.out, SYNTAX);
            return Flow::Reply;
        }
        match parse_i64(c.args[i + 1]).filter(|n| *n >= 0) {
            None => {
                reply::error(c.out, b"ERR LIMIT can't be negative");
                return Flow::Reply;
            }
            Some(n) => limit = usize::try_from(n).unwrap_or(usize::MAX),
        }
        i += 2;
    }
    let keys = &c.args[2..2 + keys];
    let mut locked = c.parts.lock_keys(keys.iter().copied());
    match sets_of(&mut locked, keys, c.now) {
        Ok(sets) => {
            let limit = if limit == 0 { usize::MAX } else { limit };
            reply::integer(c.out, combine(Operation::Inter, &sets, limit).len() as i64);
        }
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

/// SMOVE source destination member: both parts held; both types checked before anything moves.
pub fn smove(c: &mut Call<'_>) -> Flow {
    let (from, to, member) = (c.args[1], c.args[2], c.args[3]);
    let mut locked = c.parts.lock_keys([from, to]);
    let source = match locked.store(from).read::<Set>(from, c.now) {
        Ok(None) => {
            reply::integer(c.out, 0);
            return Flow::Reply;
        }
        Ok(Some(set)) => set.contains(member),
        Err(WrongType) => {
            reply::error(c.out, WrongType::MESSAGE);
            return Flow::Reply;
        }
    };
    let already = match locked.store(to).read::<Set>(to, c.now) {
        Ok(found) => found.is_some_and(|set| set.contains(member)),
        Err(WrongType) => {
            reply::error(c.out, WrongType::MESSAGE);
            return Flow::Reply;
        }
    };
    if from == to || !source {
        reply::integer(c.out, i64::from(source));
        return Flow::Reply;
    }
    let _ = locked
        .store(from)
        .change(from, c.now, false, |s: &mut Set| s.remove(member));
    // As Redis: a destination that already has the member is not changed, so a WATCH on it holds.
    if !already {
        let _ = locked
            .store(to)
            .change(to, c.now, true, |s: &mut Set| s.insert(member));
    }
    reply::integer(c.out, 1);
    Flow::Reply
}
