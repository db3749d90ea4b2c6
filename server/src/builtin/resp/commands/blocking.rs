//! Pops from the first of several keys: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX, and LMPOP, ZMPOP
//! with their blocking BLMPOP, BZMPOP. Each first tries its keys in order as its non-blocking form would (WRONGTYPE for a key of another kind); when all are empty it leaves a
//! [`Blocked`] in the session, which the connection waits on (see [`crate::builtin::resp::blocking`]).

use std::time::Duration;

use pincore_resp::reply;

use super::{Call, Flow};
use crate::builtin::resp::blocking::{take, take_propagated, Blocked, Take};
use crate::builtin::resp::expiry::SYNTAX;
use crate::builtin::resp::keyspace::Parts;
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::types::list::End;
use crate::builtin::resp::types::{Kind, WrongType};

/// The argument at `index` as Redis reads a blocking timeout: seconds, fractions allowed, 0 for ever; `None`
/// once the error is written.
fn timeout(c: &mut Call<'_>, index: usize) -> Option<Option<Duration>> {
    let text = c.args[index];
    let seconds = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|s| s.is_finite() && !t_has_space(text));
    let Some(seconds) = seconds else {
        reply::error(c.out, b"ERR timeout is not a float or out of range");
        return None;
    };
    let ms = (seconds * 1000.0).ceil();
    if ms < 0.0 {
        reply::error(c.out, b"ERR timeout is negative");
        return None;
    }
    Some((ms > 0.0).then(|| Duration::from_millis(ms.min(1e15) as u64)))
}

/// [`timeout`] of the last argument (BLPOP's, BLMOVE's, BZPOPMIN's).
fn last_timeout(c: &mut Call<'_>) -> Option<Option<Duration>> {
    timeout(c, c.args.len() - 1)
}

fn t_has_space(text: &[u8]) -> bool {
    text.first().is_some_and(u8::is_ascii_whitespace)
}

/// Whether a command that finds all its keys empty waits.
#[derive(Clone, Copy)]
enum Wait {
    /// LMPOP, ZMPOP: answer a null at once.
    Never,
    /// The blocking forms: `None` for ever.
    Up(Option<Duration>),
}

/// Serves `take` from the first of `keys` that has something, or leaves the command blocked. Inside a
/// transaction nothing blocks: a command that would answers as if its timeout passed, as Redis's do.
fn pop_or_block(c: &mut Call<'_>, take_what: Take, keys: &[&[u8]], wait: Wait, kind: Kind) -> Flow {
    let keyspace = c.parts.keyspace();
    for key in keys {
        match c.parts.lock(key).kind(key, c.now) {
            None => continue,
            Some(k) if k != kind => {
                reply::error(c.out, WrongType::MESSAGE);
                return Flow::Reply;
            }
            Some(_) => {}
        }
        if let Take::Move { destination, .. } = &take_what {
            let destination_kind = c.parts.lock(destination).kind(destination, c.now);
            if destination_kind.is_some_and(|k| k != Kind::List) {
                reply::error(c.out, WrongType::MESSAGE);
                return Flow::Reply;
            }
        }
        // A client already waiting on the key is served first.
        let (pubsub, protocol) = (&c.resp.pubsub, c.session.protocol);
        let free = matches!(wait, Wait::Never) || keyspace.waiters.none_on(key);
        // With a replica attached, outside EXEC (which propagates its whole queue), the pop holds its parts
        // until it is propagated.
        let feeding = matches!(c.parts, Parts::Lock(_)) && keyspace.feed.active();
        if free
            && if feeding {
                take_propagated(keyspace, pubsub, &take_what, key, protocol, c.now, c.out)
            } else {
                take(
                    &mut c.parts,
                    pubsub,
                    &take_what,
                    key,
                    protocol,
                    c.now,
                    c.out,
                )
            }
        {
            return Flow::Reply;
        }
    }
    let wait = match wait {
        Wait::Up(wait) if !c.session.in_exec => wait,
        // BLMOVE that cannot block answers a null, the others a null array.
        _ if matches!(take_what, Take::Move { .. }) => {
            reply::nil(c.out, c.session.protocol);
            return Flow::Reply;
        }
        _ => {
            reply::nil_array(c.out, c.session.protocol);
            return Flow::Reply;
        }
    };
    let keys = keys.iter().map(|k| k.to_vec()).collect();
    // From now, not from the read the command came in: commands before it in a pipeline may have waited.
    let deadline = wait.map(|w| std::time::Instant::now() + w);
    let client = c.session.id;
    c.session.blocked = Some(Blocked::new(keyspace, take_what, keys, deadline, client));
    Flow::Reply
}

/// BLPOP and BRPOP key [key ...] timeout
fn pop(c: &mut Call<'_>, end: End) -> Flow {
    let Some(wait) = last_timeout(c) else {
        return Flow::Reply;
    };
    let keys = &c.args[1..c.args.len() - 1];
    pop_or_block(c, Take::Pop(end), keys, Wait::Up(wait), Kind::List)
}

pub fn blpop(c: &mut Call<'_>) -> Flow {
    pop(c, End::Left)
}

pub fn brpop(c: &mut Call<'_>) -> Flow {
    pop(c, End::Right)
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(c: &mut Call<'_>) -> Flow {
    let (Some(from), Some(to)) = (End::parse(c.args[3]), End::parse(c.args[4])) else {
        reply::error(c.out, SYNTAX);
        return Flow::Reply;
    };
    move_or_block(c, from, to)
}

/// BRPOPLPUSH source destination timeout: BLMOVE source destination RIGHT LEFT.
pub fn brpoplpush(c: &mut Call<'_>) -> Flow {
    move_or_block(c, End::Right, End::Left)
}

fn move_or_block(c: &mut Call<'_>, from: End, to: End) -> Flow {
    let Some(wait) = last_timeout(c) else {
        return Flow::Reply;
    };
    let take = Take::Move {
        destination: c.args[2].to_vec(),
        from,
        to,
    };
    let source = [c.args[1]];
    pop_or_block(c, take, &source, Wait::Up(wait), Kind::List)
}

/// BZPOPMIN and BZPOPMAX key [key ...] timeout
fn zpop(c: &mut Call<'_>, max: bool) -> Flow {
    let Some(wait) = last_timeout(c) else {
        return Flow::Reply;
    };
    let keys = &c.args[1..c.args.len() - 1];
    pop_or_block(c, Take::ZPop { max }, keys, Wait::Up(wait), Kind::ZSet)
}

pub fn bzpopmin(c: &mut Call<'_>) -> Flow {
    zpop(c, false)
}

pub fn bzpopmax(c: &mut Call<'_>) -> Flow {
    zpop(c, true)
}

/// LMPOP's and ZMPOP's arguments after the name (and BLMPOP's timeout): `numkeys key [key ...]`, then one of
/// `words` (LEFT|RIGHT, MIN|MAX), then `[COUNT count]`, judged in Redis 7.0's order. The keys, whether the
/// second word was given, and the count (1 without COUNT); `None` once the error is written.
fn several<'a>(
    c: &mut Call<'a>,
    numkeys_at: usize,
    words: [&[u8]; 2],
) -> Option<(&'a [&'a [u8]], bool, usize)> {
    let args: &'a [&'a [u8]] = c.args;
    let Some(numkeys) = parse_i64(args[numkeys_at]).filter(|&n| n > 0) else {
        reply::error(c.out, b"ERR numkeys should be greater than 0");
        return None;
    };
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_at + 1))
        .filter(|&at| at < args.len());
    let Some(where_at) = where_at else {
        reply::error(c.out, SYNTAX);
        return None;
    };
    let word = args[where_at];
    let second = if word.eq_ignore_ascii_case(words[0]) {
        false
    } else if word.eq_ignore_ascii_case(words[1]) {
        true
    } else {
        reply::error(c.out, SYNTAX);
        return None;
    };
    let mut count = None;
    let mut at = where_at + 1;
    while at < args.len() {
        if count.is_none() && args[at].eq_ignore_ascii_case(b"COUNT") && at + 1 < args.len() {
            let Some(n) = parse_i64(args[at + 1]).filter(|&n| n > 0) else {
                reply::error(c.out, b"ERR count should be greater than 0");
                return None;
            };
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            at += 2;
        } else {
            reply::error(c.out, SYNTAX);
            return None;
        }
    }
    Some((&args[numkeys_at + 1..where_at], second, count.unwrap_or(1)))
}

/// LMPOP and BLMPOP: `numkeys` at `numkeys_at`, then the keys, LEFT|RIGHT and `[COUNT count]`.
fn list_mpop(c: &mut Call<'_>, numkeys_at: usize, blocking: bool) -> Flow {
    let Some((keys, right, count)) = several(c, numkeys_at, [b"LEFT", b"RIGHT"]) else {
        return Flow::Reply;
    };
    let Some(wait) = mpop_wait(c, blocking) else {
        return Flow::Reply;
    };
    let end = if right { End::Right } else { End::Left };
    pop_or_block(c, Take::PopMany { end, count }, keys, wait, Kind::List)
}

/// ZMPOP and BZMPOP: `numkeys` at `numkeys_at`, then the keys, MIN|MAX and `[COUNT count]`.
fn zset_mpop(c: &mut Call<'_>, numkeys_at: usize, blocking: bool) -> Flow {
    let Some((keys, max, count)) = several(c, numkeys_at, [b"MIN", b"MAX"]) else {
        return Flow::Reply;
    };
    let Some(wait) = mpop_wait(c, blocking) else {
        return Flow::Reply;
    };
    pop_or_block(c, Take::ZPopMany { max, count }, keys, wait, Kind::ZSet)
}

/// The blocking forms' timeout, their first argument, read after the rest as Redis reads it.
fn mpop_wait(c: &mut Call<'_>, blocking: bool) -> Option<Wait> {
    if !blocking {
        return Some(Wait::Never);
    }
    timeout(c, 1).map(Wait::Up)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(c: &mut Call<'_>) -> Flow {
    list_mpop(c, 1, false)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(c: &mut Call<'_>) -> Flow {
    list_mpop(c, 2, true)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(c: &mut Call<'_>) -> Flow {
    zset_mpop(c, 1, false)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(c: &mut Call<'_>) -> Flow {
    zset_mpop(c, 2, true)
}
