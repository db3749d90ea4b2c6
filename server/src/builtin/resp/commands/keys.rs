//! Generic key commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, the EXPIRE family (EXPIRE, PEXPIRE, EXPIREAT,
//! PEXPIREAT with NX|XX|GT|LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST, RENAME, RENAMENX, COPY,
//! RANDOMKEY.

use pincore_resp::reply;

use super::{Call, Flow};
use crate::builtin::resp::expiry::{expire_when, Clock, ExpireCondition, NOT_AN_INTEGER, SYNTAX};
use crate::builtin::resp::kv;
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::types::Kind;

/// DEL, UNLINK, EXISTS and TOUCH: every key's part locked at once (in ascending order), so the count is
/// atomic.
fn count(c: &mut Call<'_>, delete: bool) -> Flow {
    let keys = &c.args[1..];
    let mut locked = c.resp.keyspace.lock_keys(keys.iter().copied());
    let found = keys
        .iter()
        .filter(|k| {
            let store = locked.store(k);
            if delete {
                store.delete(k, c.now)
            } else {
                store.exists(k, c.now)
            }
        })
        .count();
    reply::integer(c.out, found as i64);
    Flow::Reply
}

/// DEL, and UNLINK: a key is one allocation, freed as fast as unlinked.
pub fn del(c: &mut Call<'_>) -> Flow {
    count(c, true)
}

pub fn exists(c: &mut Call<'_>) -> Flow {
    count(c, false)
}

/// TOUCH: the keys that exist, each counted as read for LRU and LFU.
pub fn touch(c: &mut Call<'_>) -> Flow {
    let keys = &c.args[1..];
    let mut locked = c.resp.keyspace.lock_keys(keys.iter().copied());
    let found = keys
        .iter()
        .filter(|k| locked.store(k).touch(k, c.now))
        .count();
    reply::integer(c.out, found as i64);
    Flow::Reply
}

pub fn type_of(c: &mut Call<'_>) -> Flow {
    let kind = c.resp.keyspace.lock(c.args[1]).kind(c.args[1], c.now);
    reply::simple(c.out, kind.map_or(b"none", Kind::name));
    Flow::Reply
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: options are judged before the time, the time before the key.
fn expire_generic(c: &mut Call<'_>, unit_ms: i64, relative: bool, command: &str) -> Flow {
    let clock = Clock::now();
    let judged = ExpireCondition::parse(&c.args[3..]).and_then(|condition| {
        Ok((
            condition,
            expire_when(c.args[2], unit_ms, relative, &clock, command)?,
        ))
    });
    match judged {
        Ok((condition, when)) => {
            let key = c.args[1];
            let set = kv::expire(
                &mut c.resp.keyspace.lock(key),
                key,
                when,
                condition,
                &clock,
                c.now,
            );
            reply::integer(c.out, set);
        }
        Err(message) => reply::error(c.out, &message),
    }
    Flow::Reply
}

pub fn expire(c: &mut Call<'_>) -> Flow {
    expire_generic(c, 1000, true, "expire")
}

pub fn pexpire(c: &mut Call<'_>) -> Flow {
    expire_generic(c, 1, true, "pexpire")
}

pub fn expireat(c: &mut Call<'_>) -> Flow {
    expire_generic(c, 1000, false, "expireat")
}

pub fn pexpireat(c: &mut Call<'_>) -> Flow {
    expire_generic(c, 1, false, "pexpireat")
}

fn ttl_generic(c: &mut Call<'_>, ms: bool, absolute: bool) -> Flow {
    let clock = Clock::now();
    let key = c.args[1];
    let n = kv::ttl(
        &mut c.resp.keyspace.lock(key),
        key,
        &clock,
        c.now,
        ms,
        absolute,
    );
    reply::integer(c.out, n);
    Flow::Reply
}

pub fn ttl(c: &mut Call<'_>) -> Flow {
    ttl_generic(c, false, false)
}

pub fn pttl(c: &mut Call<'_>) -> Flow {
    ttl_generic(c, true, false)
}

pub fn expiretime(c: &mut Call<'_>) -> Flow {
    ttl_generic(c, false, true)
}

pub fn pexpiretime(c: &mut Call<'_>) -> Flow {
    ttl_generic(c, true, true)
}

pub fn persist(c: &mut Call<'_>) -> Flow {
    let removed = c.resp.keyspace.lock(c.args[1]).persist(c.args[1], c.now);
    reply::integer(c.out, i64::from(removed));
    Flow::Reply
}

/// RENAME and RENAMENX (`only_new`), as Redis 7.0's `renameGenericCommand`: a missing source is an error
/// even when both names are the same; the value keeps its TTL. Both parts are held throughout.
fn rename_generic(c: &mut Call<'_>, only_new: bool) -> Flow {
    let (from, to) = (c.args[1], c.args[2]);
    let mut locked = c.resp.keyspace.lock_keys([from, to]);
    let done = if only_new {
        |out: &mut Vec<u8>| reply::integer(out, 1)
    } else {
        |out: &mut Vec<u8>| reply::simple(out, b"OK")
    };
    if !locked.store(from).exists(from, c.now) {
        reply::error(c.out, b"ERR no such key");
    } else if from == to {
        if only_new {
            reply::integer(c.out, 0);
        } else {
            done(c.out);
        }
    } else if only_new && locked.store(to).exists(to, c.now) {
        reply::integer(c.out, 0);
    } else if let Some((value, deadline)) = locked.store(from).take(from, c.now) {
        locked.store(to).put(to, value, deadline, c.now);
        done(c.out);
    }
    Flow::Reply
}

pub fn rename(c: &mut Call<'_>) -> Flow {
    rename_generic(c, false)
}

pub fn renamenx(c: &mut Call<'_>) -> Flow {
    rename_generic(c, true)
}

/// COPY source destination [DB 0] [REPLACE]: there is one database, so DB may only name it.
pub fn copy(c: &mut Call<'_>) -> Flow {
    let (from, to) = (c.args[1], c.args[2]);
    let mut replace = false;
    let mut i = 3;
    while i < c.args.len() {
        let option = c.args[i];
        if option.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"DB") && i + 1 < c.args.len() {
            i += 1;
            match c.args[i] {
                b"0" => {}
                db if parse_i64(db).is_none() => {
                    reply::error(c.out, NOT_AN_INTEGER);
                    return Flow::Reply;
                }
                _ => {
                    reply::error(c.out, b"ERR DB index is out of range");
                    return Flow::Reply;
                }
            }
        } else {
            reply::error(c.out, SYNTAX);
            return Flow::Reply;
        }
        i += 1;
    }
    if from == to {
        reply::error(c.out, b"ERR source and destination objects are the same");
        return Flow::Reply;
    }
    let mut locked = c.resp.keyspace.lock_keys([from, to]);
    if !locked.store(from).exists(from, c.now) || (!replace && locked.store(to).exists(to, c.now)) {
        reply::integer(c.out, 0);
        return Flow::Reply;
    }
    if let Some((value, deadline)) = locked.store(from).copy_of(from, c.now) {
        locked.store(to).put(to, value, deadline, c.now);
    }
    reply::integer(c.out, 1);
    Flow::Reply
}

/// RANDOMKEY: a key of a random part (see [`crate::builtin::resp::keyspace::Keyspace::random_key`]).
pub fn randomkey(c: &mut Call<'_>) -> Flow {
    match c.resp.keyspace.random_key(c.now) {
        Some(key) => reply::bulk(c.out, &key),
        None => reply::nil(c.out, c.session.protocol),
    }
    Flow::Reply
}
