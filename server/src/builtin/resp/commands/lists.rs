//! List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN, LRANGE, LINDEX, LSET, LINSERT, LREM, LTRIM,
//! LPOS, LMOVE, RPOPLPUSH. Arguments are judged in the order Redis 7.0's `t_list.c` judges them, so the
//! same bad command gets the same error.

use pincore_resp::reply;

use super::collections::{
    index_range, integer, integer_arg, outcome, part, positive_count, read_or_reply, size_of,
    ReplyBound,
};
use super::{Call, Flow};
use crate::builtin::resp::expiry::SYNTAX;
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::types::list::End;
use crate::builtin::resp::types::{List, WrongType};

/// LPUSH, RPUSH, and with `only_existing` LPUSHX, RPUSHX: the length after.
fn push(c: &mut Call<'_>, end: End, only_existing: bool) -> Flow {
    let values = &c.args[2..];
    let len = part!(c).change(c.args[1], c.now, !only_existing, |l: &mut List| {
        l.push_all(end, values);
        l.len() as i64
    });
    integer(c, len.map(Option::unwrap_or_default));
    Flow::Reply
}

pub fn lpush(c: &mut Call<'_>) -> Flow {
    push(c, End::Left, false)
}

pub fn rpush(c: &mut Call<'_>) -> Flow {
    push(c, End::Right, false)
}

pub fn lpushx(c: &mut Call<'_>) -> Flow {
    push(c, End::Left, true)
}

pub fn rpushx(c: &mut Call<'_>) -> Flow {
    push(c, End::Right, true)
}

/// LPOP and RPOP key [count]: one element as a bulk, or with a count an array of up to that many.
fn pop(c: &mut Call<'_>, end: End) -> Flow {
    if c.args.len() > 3 {
        return super::wrong_arity(c, if end == End::Left { "lpop" } else { "rpop" });
    }
    let count = if c.args.len() == 3 {
        match positive_count(c, 2) {
            Some(n) => Some(n),
            None => return Flow::Reply,
        }
    } else {
        None
    };
    let protocol = c.session.protocol;
    let (args, now) = (c.args, c.now);
    let out = &mut *c.out;
    let popped = c
        .parts
        .lock(args[1])
        .change(args[1], now, false, |l: &mut List| match count {
            None => {
                if let Some(v) = l.pop(end) {
                    reply::bulk(out, &v);
                }
            }
            Some(n) => {
                let n = n.min(l.len());
                reply::array(out, n);
                for _ in 0..n {
                    if let Some(v) = l.pop(end) {
                        reply::bulk(out, &v);
                    }
                }
            }
        });
    match popped {
        Ok(Some(())) => {}
        Ok(None) if count.is_some() => reply::nil_array(c.out, protocol),
        Ok(None) => reply::nil(c.out, protocol),
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

pub fn lpop(c: &mut Call<'_>) -> Flow {
    pop(c, End::Left)
}

pub fn rpop(c: &mut Call<'_>) -> Flow {
    pop(c, End::Right)
}

pub fn llen(c: &mut Call<'_>) -> Flow {
    size_of(c, List::len)
}

pub fn lrange(c: &mut Call<'_>) -> Flow {
    let (Some(start), Some(end)) = (parse_i64(c.args[2]), parse_i64(c.args[3])) else {
        reply::error(c.out, crate::builtin::resp::expiry::NOT_AN_INTEGER);
        return Flow::Reply;
    };
    let mut part = part!(c);
    let Some(list) = read_or_reply::<List>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    match list.and_then(|l| index_range(start, end, l.len()).map(|r| (l, r))) {
        None => reply::array(c.out, 0),
        Some((list, (from, to))) => {
            reply::array(c.out, to - from + 1);
            let bound = ReplyBound::start(c.resp, c.out);
            for v in list.range(from, to) {
                reply::bulk(c.out, v);
                if bound.full(c.out) {
                    break;
                }
            }
        }
    }
    Flow::Reply
}

/// A list index (negative from the end) as a position, if within `len`.
fn position(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&at).then_some(at as usize)
}

pub fn lindex(c: &mut Call<'_>) -> Flow {
    let protocol = c.session.protocol;
    let mut part = part!(c);
    match part.read::<List>(c.args[1], c.now) {
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
        Ok(None) => reply::nil(c.out, protocol),
        Ok(Some(list)) => match parse_i64(c.args[2]) {
            None => reply::error(c.out, crate::builtin::resp::expiry::NOT_AN_INTEGER),
            Some(index) => match position(index, list.len()).and_then(|at| list.get(at)) {
                Some(v) => reply::bulk(c.out, v),
                None => reply::nil(c.out, protocol),
            },
        },
    }
    Flow::Reply
}

pub fn lset(c: &mut Call<'_>) -> Flow {
    let (index, value) = (parse_i64(c.args[2]), c.args[3]);
    let done = part!(c).change(c.args[1], c.now, false, |l: &mut List| {
        let index = index.ok_or(crate::builtin::resp::expiry::NOT_AN_INTEGER)?;
        let at = position(index, l.len()).ok_or(&b"ERR index out of range"[..])?;
        l.set(at, value);
        Ok(())
    });
    outcome(c.out, done, Some(b"ERR no such key"), |out, ()| {
        reply::simple(out, b"OK")
    });
    Flow::Reply
}

pub fn linsert(c: &mut Call<'_>) -> Flow {
    let after = if c.args[2].eq_ignore_ascii_case(b"AFTER") {
        true
    } else if c.args[2].eq_ignore_ascii_case(b"BEFORE") {
        false
    } else {
        reply::error(c.out, SYNTAX);
        return Flow::Reply;
    };
    let (pivot, value) = (c.args[3], c.args[4]);
    let len = part!(c).change(c.args[1], c.now, false, |l: &mut List| {
        let found = l.iter().position(|v| v == pivot);
        match found {
            Some(at) => {
                l.insert(at + usize::from(after), value);
                l.len() as i64
            }
            None => -1,
        }
    });
    integer(c, len.map(Option::unwrap_or_default));
    Flow::Reply
}

pub fn lrem(c: &mut Call<'_>) -> Flow {
    let Some(count) = integer_arg(c, 2) else {
        return Flow::Reply;
    };
    let value = c.args[3];
    let removed = part!(c).change(c.args[1], c.now, false, |l: &mut List| {
        l.remove_equal(value, count) as i64
    });
    integer(c, removed.map(Option::unwrap_or_default));
    Flow::Reply
}

pub fn ltrim(c: &mut Call<'_>) -> Flow {
    let (Some(start), Some(end)) = (parse_i64(c.args[2]), parse_i64(c.args[3])) else {
        reply::error(c.out, crate::builtin::resp::expiry::NOT_AN_INTEGER);
        return Flow::Reply;
    };
    let trimmed = part!(c).change(c.args[1], c.now, false, |l: &mut List| {
        match index_range(start, end, l.len()) {
            Some((from, to)) => l.keep_range(from, to),
            None => l.keep_range(1, 0),
        }
    });
    match trimmed {
        Ok(_) => reply::simple(c.out, b"OK"),
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len], as Redis 7.0's `lposCommand`.
pub fn lpos(c: &mut Call<'_>) -> Flow {
    let (mut rank, mut count, mut max_len): (i64, Option<i64>, i64) = (1, None, 0);
    let mut i = 3;
    while i < c.args.len() {
        let option = c.args[i];
        let has_value = i + 1 < c.args.len();
        let value = c.args.get(i + 1).copied().unwrap_or_default();
        let parsed = parse_i64(value);
        let error: Option<&[u8]> = if !has_value {
            Some(SYNTAX)
        } else if option.eq_ignore_ascii_case(b"RANK") {
            match parsed {
                None => Some(crate::builtin::resp::expiry::NOT_AN_INTEGER),
                Some(0) => Some(b"ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
                Some(n) => {
                    rank = n;
                    None
                }
            }
        } else if option.eq_ignore_ascii_case(b"COUNT") || option.eq_ignore_ascii_case(b"MAXLEN") {
            let is_count = option.eq_ignore_ascii_case(b"COUNT");
            // Redis gives one message for a value that is negative and one that is no integer at all.
            match parsed.filter(|n| *n >= 0) {
                None if is_count => Some(b"ERR COUNT can't be negative"),
                None => Some(b"ERR MAXLEN can't be negative"),
                Some(n) if is_count => {
                    count = Some(n);
                    None
                }
                Some(n) => {
                    max_len = n;
                    None
                }
            }
        } else {
            Some(SYNTAX)
        };
        if let Some(message) = error {
            reply::error(c.out, message);
            return Flow::Reply;
        }
        i += 2;
    }
    let element = c.args[2];
    let protocol = c.session.protocol;
    let mut part = part!(c);
    let Some(list) = read_or_reply::<List>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    let Some(list) = list else {
        match count {
            Some(_) => reply::array(c.out, 0),
            None => reply::nil(c.out, protocol),
        }
        return Flow::Reply;
    };
    let len = list.len();
    let scan_limit = if max_len == 0 {
        len
    } else {
        len.min(usize::try_from(max_len).unwrap_or(usize::MAX))
    };
    let from_tail = rank < 0;
    // Redis negates the rank in a C long, where -(i64::MIN) stays negative: every match then counts.
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() - 1
    };
    let wanted = match count {
        Some(0) => u64::MAX,
        Some(n) => n as u64,
        None => 1,
    };
    // One walk over the packed nodes from the chosen end (an index is a walk of its own).
    let elements: Box<dyn Iterator<Item = (usize, &[u8])>> = if from_tail {
        Box::new(list.iter().rev().enumerate().map(|(i, v)| (len - 1 - i, v)))
    } else {
        Box::new(list.iter().enumerate())
    };
    let found: Vec<usize> = elements
        .take(scan_limit)
        .filter(|&(_, v)| v == element)
        .map(|(at, _)| at)
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(wanted).unwrap_or(usize::MAX))
        .collect();
    match count {
        Some(_) => {
            reply::array(c.out, found.len());
            for at in found {
                reply::integer(c.out, at as i64);
            }
        }
        None => match found.first() {
            Some(&at) => reply::integer(c.out, at as i64),
            None => reply::nil(c.out, protocol),
        },
    }
    Flow::Reply
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT, and RPOPLPUSH (RIGHT, LEFT): both parts held, the
/// destination's type checked before anything moves.
fn move_element(c: &mut Call<'_>, from_end: End, to_end: End) -> Flow {
    let (from, to) = (c.args[1], c.args[2]);
    let protocol = c.session.protocol;
    let mut locked = c.parts.lock_keys([from, to]);
    match locked.store(from).read::<List>(from, c.now) {
        Err(WrongType) => {
            reply::error(c.out, WrongType::MESSAGE);
            return Flow::Reply;
        }
        Ok(None) => {
            reply::nil(c.out, protocol);
            return Flow::Reply;
        }
        Ok(Some(_)) => {}
    }
    if locked.store(to).read::<List>(to, c.now).is_err() {
        reply::error(c.out, WrongType::MESSAGE);
        return Flow::Reply;
    }
    let popped = locked
        .store(from)
        .change(from, c.now, false, |l: &mut List| l.pop(from_end));
    let Ok(Some(Some(value))) = popped else {
        reply::nil(c.out, protocol);
        return Flow::Reply;
    };
    // Checked above: the destination is a list or missing.
    let _ = locked
        .store(to)
        .change(to, c.now, true, |l: &mut List| l.push(to_end, &value));
    reply::bulk(c.out, &value);
    Flow::Reply
}

pub fn lmove(c: &mut Call<'_>) -> Flow {
    match (End::parse(c.args[3]), End::parse(c.args[4])) {
        (Some(from), Some(to)) => move_element(c, from, to),
        _ => {
            reply::error(c.out, SYNTAX);
            Flow::Reply
        }
    }
}

pub fn rpoplpush(c: &mut Call<'_>) -> Flow {
    move_element(c, End::Right, End::Left)
}
