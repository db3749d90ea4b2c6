//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX. Each first tries its keys in order as its
//! non-blocking form would (WRONGTYPE for a key of another kind); when all are empty it leaves a
//! [`Blocked`] in the session, which the connection waits on (see [`crate::builtin::resp::blocking`]).

use std::time::Duration;

use pincore_resp::reply;

use super::{Call, Flow};
use crate::builtin::resp::blocking::{take, Blocked, Take};
use crate::builtin::resp::expiry::SYNTAX;
use crate::builtin::resp::types::list::End;
use crate::builtin::resp::types::{Kind, WrongType};

/// The last argument as Redis reads a blocking timeout: seconds, fractions allowed, 0 for ever; `None`
/// once the error is written.
fn timeout(c: &mut Call<'_>) -> Option<Option<Duration>> {
    let text = c.args[c.args.len() - 1];
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

fn t_has_space(text: &[u8]) -> bool {
    text.first().is_some_and(u8::is_ascii_whitespace)
}

/// Serves `take` from the first of `keys` that has something, or leaves the command blocked.
fn pop_or_block(
    c: &mut Call<'_>,
    take_what: Take,
    keys: &[&[u8]],
    wait: Option<Duration>,
    kind: Kind,
) -> Flow {
    let keyspace = &c.resp.keyspace;
    for key in keys {
        match keyspace.lock(key).kind(key, c.now) {
            None => continue,
            Some(k) if k != kind => {
                reply::error(c.out, WrongType::MESSAGE);
                return Flow::Reply;
            }
            Some(_) => {}
        }
        if let Take::Move { destination, .. } = &take_what {
            let destination_kind = keyspace.lock(destination).kind(destination, c.now);
            if destination_kind.is_some_and(|k| k != Kind::List) {
                reply::error(c.out, WrongType::MESSAGE);
                return Flow::Reply;
            }
        }
        // A client already waiting on the key is served first.
        if keyspace.waiters.none_on(key)
            && take(keyspace, &take_what, key, c.session.protocol, c.now, c.out)
        {
            return Flow::Reply;
        }
    }
    let keys = keys.iter().map(|k| k.to_vec()).collect();
    // From now, not from the read the command came in: commands before it in a pipeline may have waited.
    let deadline = wait.map(|w| std::time::Instant::now() + w);
    c.session.blocked = Some(Blocked::new(keyspace, take_what, keys, deadline));
    Flow::Reply
}

/// BLPOP and BRPOP key [key ...] timeout
fn pop(c: &mut Call<'_>, end: End) -> Flow {
    let Some(wait) = timeout(c) else {
        return Flow::Reply;
    };
    let keys = &c.args[1..c.args.len() - 1];
    pop_or_block(c, Take::Pop(end), keys, wait, Kind::List)
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
    let Some(wait) = timeout(c) else {
        return Flow::Reply;
    };
    let take = Take::Move {
        destination: c.args[2].to_vec(),
        from,
        to,
    };
    let source = [c.args[1]];
    pop_or_block(c, take, &source, wait, Kind::List)
}

/// BZPOPMIN and BZPOPMAX key [key ...] timeout
fn zpop(c: &mut Call<'_>, max: bool) -> Flow {
    let Some(wait) = timeout(c) else {
        return Flow::Reply;
    };
    let keys = &c.args[1..c.args.len() - 1];
    pop_or_block(c, Take::ZPop { max }, keys, wait, Kind::ZSet)
}

pub fn bzpopmin(c: &mut Call<'_>) -> Flow {
    zpop(c, false)
}

pub fn bzpopmax(c: &mut Call<'_>) -> Flow {
    zpop(c, true)
}
