//! What the hash, list and set commands share: the locked part of their key, replies for a typed result,
//! and the bound on replies that a collection's size, not the request, decides.

use std::time::Instant;

use pincore_resp::reply;

use super::Call;
use crate::builtin::resp::expiry::NOT_AN_INTEGER;
use crate::builtin::resp::keyspace::Part;
use crate::builtin::resp::store::{parse_i64, Store};
use crate::builtin::resp::types::{Typed, WrongType};

/// The part of the command's first key, locked.
pub fn part<'a>(c: &Call<'a>) -> Part<'a> {
    c.resp.keyspace.lock(c.args[1])
}

/// The collection of kind `T` at `key` (`None` if missing), or `None` with WRONGTYPE written.
pub fn read_or_reply<'p, T: Typed>(
    store: &'p mut Store,
    key: &[u8],
    now: Instant,
    out: &mut Vec<u8>,
) -> Option<Option<&'p T>> {
    match store.read::<T>(key, now) {
        Ok(found) => Some(found),
        Err(WrongType) => {
            reply::error(out, WrongType::MESSAGE);
            None
        }
    }
}

/// The outcome of a change that can fail on the value itself (HINCRBY on text, LSET out of range):
/// `write` for a result, the error, WRONGTYPE, or `missing` when the key is absent.
pub fn outcome<T>(
    out: &mut Vec<u8>,
    result: Result<Option<Result<T, &[u8]>>, WrongType>,
    missing: Option<&[u8]>,
    write: impl FnOnce(&mut Vec<u8>, T),
) {
    match result {
        Ok(Some(Ok(value))) => write(out, value),
        Ok(Some(Err(message))) => reply::error(out, message),
        Ok(None) => {
            if let Some(message) = missing {
                reply::error(out, message);
            }
        }
        Err(WrongType) => reply::error(out, WrongType::MESSAGE),
    }
}

/// The integer, or WRONGTYPE.
pub fn integer(c: &mut Call<'_>, n: Result<i64, WrongType>) {
    match n {
        Ok(n) => reply::integer(c.out, n),
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
}

/// The integer argument at `index`, or the reply Redis gives for one that is not.
pub fn integer_arg(c: &mut Call<'_>, index: usize) -> Option<i64> {
    let n = parse_i64(c.args[index]);
    if n.is_none() {
        reply::error(c.out, NOT_AN_INTEGER);
    }
    n
}

/// Whether a reply begun at `mark` has grown past `limits.max_reply_bytes`: a command listing or
/// repeating members stops there, and the connection replaces the reply with its error and closes.
pub fn reply_full(c: &Call<'_>, mark: usize) -> bool {
    c.out.len() - mark > c.resp.ctx.config().limits.max_reply_bytes
}

/// Redis's `start`/`end` of LRANGE, LTRIM, ZRANGE: negative counts from the end; the inclusive range
/// within `len`, or `None` when it is empty.
pub fn index_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end.min(len - 1) };
    (start <= end && start < len && end >= 0).then_some((start as usize, end as usize))
}
