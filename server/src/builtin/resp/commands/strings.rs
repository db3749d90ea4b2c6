//! String commands: GET, SET and its variants (SETNX, SETEX, PSETEX, GETSET), GETDEL, GETEX, APPEND,
//! STRLEN, GETRANGE/SUBSTR, SETRANGE, INCR, INCRBY, INCRBYFLOAT, DECR, DECRBY, MGET, MSET, MSETNX, LCS.

use pincore_resp::reply;

use super::{wrong_arity, Call, Flow};
use crate::builtin::resp::expiry::{Clock, StringOptions, Ttl, NOT_AN_INTEGER, SYNTAX};
use crate::builtin::resp::store::{parse_i64, SetCondition, SetTtl};
use crate::builtin::resp::types::WrongType;
use crate::builtin::resp::{kv, lcs};

/// The largest value a command may build (APPEND, SETRANGE): what a client could send as one bulk.
fn max_value(c: &Call<'_>) -> usize {
    c.resp.ctx.config().limits.max_bulk_len
}

fn integer_or_error(c: &mut Call<'_>, result: Result<i64, &[u8]>) -> Flow {
    match result {
        Ok(n) => reply::integer(c.out, n),
        Err(message) => reply::error(c.out, message),
    }
    Flow::Reply
}

pub fn get(c: &mut Call<'_>) -> Flow {
    let found = kv::get(
        &mut c.parts.lock(c.args[1]),
        c.args[1],
        c.now,
        c.session.protocol,
        c.out,
    );
    c.resp.count_read(found);
    Flow::Reply
}

pub fn set(c: &mut Call<'_>) -> Flow {
    let clock = Clock::now();
    kv::set(
        &mut c.parts.lock(c.args[1]),
        c.args,
        &clock,
        c.now,
        c.session.protocol,
        c.out,
    );
    Flow::Reply
}

/// SETNX, SETEX, PSETEX and GETSET: SET with fixed options, replying in their own ways.
fn set_variant(
    c: &mut Call<'_>,
    value: &[u8],
    options: StringOptions<'_>,
    command: &str,
) -> Result<(bool, Option<Vec<u8>>), Vec<u8>> {
    let clock = Clock::now();
    kv::write_string(
        &mut c.parts.lock(c.args[1]),
        c.args[1],
        value,
        options,
        &clock,
        c.now,
        command,
    )
}

pub fn setnx(c: &mut Call<'_>) -> Flow {
    let options = StringOptions {
        condition: SetCondition::IfAbsent,
        get: false,
        ttl: Ttl::None,
    };
    let stored = set_variant(c, c.args[2], options, "setnx").is_ok_and(|(stored, _)| stored);
    reply::integer(c.out, i64::from(stored));
    Flow::Reply
}

/// SETEX key seconds value and PSETEX key milliseconds value.
fn set_expiring(c: &mut Call<'_>, unit_ms: i64, command: &str) -> Flow {
    let options = StringOptions {
        condition: SetCondition::Always,
        get: false,
        ttl: Ttl::In {
            n: c.args[2],
            unit_ms,
        },
    };
    match set_variant(c, c.args[3], options, command) {
        Ok(_) => reply::simple(c.out, b"OK"),
        Err(message) => reply::error(c.out, &message),
    }
    Flow::Reply
}

pub fn setex(c: &mut Call<'_>) -> Flow {
    set_expiring(c, 1000, "setex")
}

pub fn psetex(c: &mut Call<'_>) -> Flow {
    set_expiring(c, 1, "psetex")
}

pub fn getset(c: &mut Call<'_>) -> Flow {
    let options = StringOptions {
        condition: SetCondition::Always,
        get: true,
        ttl: Ttl::None,
    };
    match set_variant(c, c.args[2], options, "getset") {
        Ok((_, Some(old))) => reply::bulk(c.out, &old),
        Ok((_, None)) => reply::nil(c.out, c.session.protocol),
        Err(message) => reply::error(c.out, &message),
    }
    Flow::Reply
}

pub fn getdel(c: &mut Call<'_>) -> Flow {
    match c.parts.lock(c.args[1]).take_string(c.args[1], c.now) {
        Ok(Some(value)) => reply::bulk(c.out, &value),
        Ok(None) => reply::nil(c.out, c.session.protocol),
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
    }
    Flow::Reply
}

pub fn getex(c: &mut Call<'_>) -> Flow {
    let clock = Clock::now();
    kv::getex(
        &mut c.parts.lock(c.args[1]),
        c.args,
        &clock,
        c.now,
        c.session.protocol,
        c.out,
    );
    Flow::Reply
}

pub fn append(c: &mut Call<'_>) -> Flow {
    let max = max_value(c);
    let appended = kv::append(
        &mut c.parts.lock(c.args[1]),
        c.args[1],
        c.args[2],
        max,
        c.now,
    );
    integer_or_error(c, appended)
}

pub fn strlen(c: &mut Call<'_>) -> Flow {
    let len = c
        .parts
        .lock(c.args[1])
        .get(c.args[1], c.now)
        .map(|value| value.map_or(0, <[u8]>::len) as i64);
    integer_or_error(c, len.map_err(|_| WrongType::MESSAGE))
}

/// GETRANGE and SUBSTR (its old name).
pub fn getrange(c: &mut Call<'_>) -> Flow {
    kv::getrange(&mut c.parts.lock(c.args[1]), c.args, c.now, c.out);
    Flow::Reply
}

pub fn setrange(c: &mut Call<'_>) -> Flow {
    let max = max_value(c);
    let (key, offset, value) = (c.args[1], c.args[2], c.args[3]);
    let written = kv::setrange(&mut c.parts.lock(c.args[1]), key, offset, value, max, c.now);
    integer_or_error(c, written)
}

pub fn setbit(c: &mut Call<'_>) -> Flow {
    let max = max_value(c);
    let (key, offset, bit) = (c.args[1], c.args[2], c.args[3]);
    let replaced = kv::setbit(&mut c.parts.lock(key), key, offset, bit, max, c.now);
    integer_or_error(c, replaced)
}

pub fn getbit(c: &mut Call<'_>) -> Flow {
    let bit = kv::getbit(&mut c.parts.lock(c.args[1]), c.args[1], c.args[2], c.now);
    integer_or_error(c, bit)
}

pub fn incr(c: &mut Call<'_>) -> Flow {
    kv::incr_by(&mut c.parts.lock(c.args[1]), c.args[1], Ok(1), c.now, c.out);
    Flow::Reply
}

pub fn decr(c: &mut Call<'_>) -> Flow {
    kv::incr_by(
        &mut c.parts.lock(c.args[1]),
        c.args[1],
        Ok(-1),
        c.now,
        c.out,
    );
    Flow::Reply
}

pub fn incrby(c: &mut Call<'_>) -> Flow {
    kv::incr_by(
        &mut c.parts.lock(c.args[1]),
        c.args[1],
        Err(c.args[2]),
        c.now,
        c.out,
    );
    Flow::Reply
}

/// DECRBY: INCRBY of the negated decrement, which i64::MIN has not (Redis's own message for it).
pub fn decrby(c: &mut Call<'_>) -> Flow {
    let delta = match parse_i64(c.args[2]) {
        None => Err(NOT_AN_INTEGER),
        Some(i64::MIN) => Err(&b"ERR decrement would overflow"[..]),
        Some(d) => Ok(-d),
    };
    match delta {
        Ok(delta) => kv::incr_by(
            &mut c.parts.lock(c.args[1]),
            c.args[1],
            Ok(delta),
            c.now,
            c.out,
        ),
        Err(message) => reply::error(c.out, message),
    }
    Flow::Reply
}

pub fn incrbyfloat(c: &mut Call<'_>) -> Flow {
    match kv::incr_by_float(&mut c.parts.lock(c.args[1]), c.args[1], c.args[2], c.now) {
        Ok(text) => reply::bulk(c.out, text.as_bytes()),
        Err(message) => reply::error(c.out, message),
    }
    Flow::Reply
}

pub fn mget(c: &mut Call<'_>) -> Flow {
    let keys = &c.args[1..];
    let mut locked = c.parts.lock_keys(keys.iter().copied());
    reply::array(c.out, keys.len());
    for k in keys {
        // A key of another kind reads as missing, as in Redis (and counts as a hit, as its lookup does).
        let found = match locked.store(k).get(k, c.now) {
            Ok(Some(v)) => {
                reply::bulk(c.out, v);
                true
            }
            Ok(None) => {
                reply::nil(c.out, c.session.protocol);
                false
            }
            Err(WrongType) => {
                reply::nil(c.out, c.session.protocol);
                true
            }
        };
        c.resp.count_read(found);
    }
    Flow::Reply
}

/// MSET and MSETNX (`only_new`): every pair's part locked at once, so all keys are set or none.
fn set_pairs(c: &mut Call<'_>, only_new: bool, name: &str) -> Option<bool> {
    if c.args.len().is_multiple_of(2) {
        wrong_arity(c, name);
        return None;
    }
    let pairs = c.args[1..].chunks_exact(2);
    let mut locked = c.parts.lock_keys(pairs.clone().map(|p| p[0]));
    if only_new
        && pairs
            .clone()
            .any(|p| locked.store(p[0]).exists(p[0], c.now))
    {
        return Some(false);
    }
    for pair in pairs {
        locked.store(pair[0]).set(
            pair[0],
            pair[1],
            SetCondition::Always,
            SetTtl::Clear,
            c.now,
            false,
        );
    }
    Some(true)
}

pub fn mset(c: &mut Call<'_>) -> Flow {
    if set_pairs(c, false, "mset").is_some() {
        reply::simple(c.out, b"OK");
    }
    Flow::Reply
}

pub fn msetnx(c: &mut Call<'_>) -> Flow {
    if let Some(set) = set_pairs(c, true, "msetnx") {
        reply::integer(c.out, i64::from(set));
    }
    Flow::Reply
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: both values are copied out under their
/// parts' locks, and the table is built after they are released (see [`lcs`] for its bound).
pub fn lcs(c: &mut Call<'_>) -> Flow {
    let (first, second) = (c.args[1], c.args[2]);
    let (a, b) = {
        let mut locked = c.parts.lock_keys([first, second]);
        let a = locked
            .store(first)
            .get(first, c.now)
            .map(|v| v.map(<[u8]>::to_vec));
        let b = locked
            .store(second)
            .get(second, c.now)
            .map(|v| v.map(<[u8]>::to_vec));
        match (a, b) {
            (Ok(a), Ok(b)) => (a.unwrap_or_default(), b.unwrap_or_default()),
            _ => {
                reply::error(c.out, WrongType::MESSAGE);
                return Flow::Reply;
            }
        }
    };
    let mut options = lcs::Options::default();
    let mut i = 3;
    while i < c.args.len() {
        let option = c.args[i];
        if option.eq_ignore_ascii_case(b"IDX") {
            options.idx = true;
        } else if option.eq_ignore_ascii_case(b"LEN") {
            options.len = true;
        } else if option.eq_ignore_ascii_case(b"WITHMATCHLEN") {
            options.with_match_len = true;
        } else if option.eq_ignore_ascii_case(b"MINMATCHLEN") && i + 1 < c.args.len() {
            i += 1;
            match parse_i64(c.args[i]) {
                Some(n) => options.min_match_len = u64::try_from(n).unwrap_or(0),
                None => {
                    reply::error(c.out, NOT_AN_INTEGER);
                    return Flow::Reply;
                }
            }
        } else {
            reply::error(c.out, SYNTAX);
            return Flow::Reply;
        }
        i += 1;
    }
    if options.len && options.idx {
        reply::error(
            c.out,
            b"ERR If you want both the length and indexes, please just use IDX.",
        );
    } else if let Some(message) = lcs::too_large(a.len(), b.len()) {
        reply::error(c.out, message.as_bytes());
    } else {
        lcs::reply(&a, &b, options, c.session.protocol, c.out);
    }
    Flow::Reply
}
