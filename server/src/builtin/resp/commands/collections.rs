//! What the hash, list and set commands share: the locked part of their key, replies for a typed result,
//! and the bound on replies that a collection's size, not the request, decides.

use std::time::Instant;

use pincore_resp::reply;

use super::{Call, Flow};
use crate::builtin::resp::expiry::{NOT_AN_INTEGER, SYNTAX};
use crate::builtin::resp::keyspace::KeyParts;
use crate::builtin::resp::store::{parse_i64, Store};
use crate::builtin::resp::types::{Collection, Typed, WrongType};
use crate::builtin::resp::Resp;

/// The part of the command's first key: locked for the command, or held by the EXEC running it. A macro, so
/// that the part borrows only `c.parts` and the command still reads `c.args` and writes `c.out` meanwhile.
macro_rules! part {
    ($c:expr) => {
        $c.parts.lock($c.args[1])
    };
}
pub(crate) use part;

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

/// HLEN, LLEN, SCARD, ZCARD: the size of the collection of kind `T` at the first key (0 if missing).
pub fn size_of<T: Typed>(c: &mut Call<'_>, len: fn(&T) -> usize) -> Flow {
    let n = part!(c)
        .read::<T>(c.args[1], c.now)
        .map(|found| found.map_or(0, len) as i64);
    integer(c, n);
    Flow::Reply
}

/// SINTERSTORE, ZUNIONSTORE and the like: `result` replaces `destination` (deleting it when empty), and the
/// reply is its size.
pub fn store_result(
    locked: &mut KeyParts<'_>,
    destination: &[u8],
    result: Collection,
    now: Instant,
    out: &mut Vec<u8>,
) {
    let len = result.len();
    locked
        .store(destination)
        .store_collection(destination, result, now);
    reply::integer(out, len as i64);
}

/// A count that must not be negative (LPOP's, SPOP's), or Redis's reply for one that is not (or is not an
/// integer: Redis says the same).
pub fn positive_count(c: &mut Call<'_>, index: usize) -> Option<usize> {
    let n = parse_i64(c.args[index]).and_then(|n| usize::try_from(n).ok());
    if n.is_none() {
        reply::error(c.out, b"ERR value is out of range, must be positive");
    }
    n
}

/// SPOP's and ZPOPMIN's optional count, the argument after the key: `None` when there is none, and
/// `Err(())` once the reply for a bad one is written.
pub fn optional_count(c: &mut Call<'_>) -> Result<Option<usize>, ()> {
    match c.args.len() {
        2 => Ok(None),
        3 => positive_count(c, 2).map(Some).ok_or(()),
        _ => {
            reply::error(c.out, SYNTAX);
            Err(())
        }
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

/// Where a reply listing or repeating members began, and how large it may grow (`limits.max_reply_bytes`):
/// such a command stops once [`ReplyBound::full`], and the connection replaces the reply with its error and
/// closes.
pub struct ReplyBound {
    mark: usize,
    limit: usize,
}

impl ReplyBound {
    /// From the reply written so far to `out`, with `resp`'s limit.
    pub fn start(resp: &Resp, out: &[u8]) -> ReplyBound {
        ReplyBound {
            mark: out.len(),
            limit: resp.ctx.config().limits.max_reply_bytes,
        }
    }

    pub fn full(&self, out: &[u8]) -> bool {
        out.len() - self.mark > self.limit
    }
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
