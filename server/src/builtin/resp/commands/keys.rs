//! Generic key commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, the EXPIRE family (EXPIRE, PEXPIRE, EXPIREAT,
//! PEXPIREAT with NX|XX|GT|LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST, RENAME, RENAMENX, COPY,
//! RANDOMKEY, KEYS, SCAN, OBJECT, MEMORY USAGE.

use pincore_resp::reply;

use std::time::Instant;

use super::{help, subcommand, Call, Flow};
use crate::builtin::resp::eviction::Policy;
use crate::builtin::resp::expiry::{expire_when, Clock, ExpireCondition, NOT_AN_INTEGER, SYNTAX};
use crate::builtin::resp::keyspace::PARTS;
use crate::builtin::resp::notify::{self, class};
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::types::Kind;
use crate::builtin::resp::{glob, kv, scan};

/// DEL, UNLINK, EXISTS and TOUCH: every key's part locked at once (in ascending order), so the count is
/// atomic.
fn count(c: &mut Call<'_>, delete: bool) -> Flow {
    let keys = &c.args[1..];
    let pubsub = &c.resp.pubsub;
    let mut locked = c.parts.lock_keys(keys.iter().copied());
    let found = keys
        .iter()
        .filter(|k| {
            let store = locked.store(k);
            if delete {
                let deleted = store.delete(k, c.now);
                if deleted {
                    notify::key(pubsub, class::GENERIC, "del", k);
                }
                deleted
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
    let mut locked = c.parts.lock_keys(keys.iter().copied());
    let found = keys
        .iter()
        .filter(|k| locked.store(k).touch(k, c.now))
        .count();
    reply::integer(c.out, found as i64);
    Flow::Reply
}

pub fn type_of(c: &mut Call<'_>) -> Flow {
    let kind = c.parts.lock(c.args[1]).kind(c.args[1], c.now);
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
            let set = kv::expire(&mut c.parts.lock(key), key, when, condition, &clock, c.now);
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
    let n = kv::ttl(&mut c.parts.lock(key), key, &clock, c.now, ms, absolute);
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
    let removed = c.parts.lock(c.args[1]).persist(c.args[1], c.now);
    reply::integer(c.out, i64::from(removed));
    Flow::Reply
}

/// RENAME and RENAMENX (`only_new`), as Redis 7.0's `renameGenericCommand`: a missing source is an error
/// even when both names are the same; the value keeps its TTL. Both parts are held throughout.
fn rename_generic(c: &mut Call<'_>, only_new: bool) -> Flow {
    let (from, to) = (c.args[1], c.args[2]);
    let mut locked = c.parts.lock_keys([from, to]);
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
    let mut locked = c.parts.lock_keys([from, to]);
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
    match c.parts.random_key(c.now) {
        Some(key) => reply::bulk(c.out, &key),
        None => reply::nil(c.out, c.session.protocol),
    }
    Flow::Reply
}

/// KEYS pattern: every live key the glob matches. The keyspace is walked one part at a time, each locked
/// only while it is scanned, yielding the shard between parts, so neither a lock nor the shard is held for
/// the whole walk (the answer is not one instant's: keys written meanwhile may or may not be in it). The
/// keys found may not together exceed `limits.max_reply_bytes`: past that KEYS stops and answers an error
/// naming SCAN, so a large keyspace never builds a reply of unbounded size.
pub fn keys(c: &mut Call<'_>) -> Flow {
    let pattern = c.args[1].to_vec();
    let keyspace = c.resp.keyspace.clone();
    let limit = c.resp.ctx.config().limits.max_reply_bytes;
    c.later = Some(Box::pin(async move {
        let everything = pattern == b"*";
        let wanted = |key: &[u8]| everything || glob::matches(&pattern, key, false);
        let mut keys = Vec::new();
        let mut bytes = 0;
        for part in 0..PARTS {
            bytes += keyspace
                .lock_part(part)
                .keys_matching(wanted, Instant::now(), &mut keys);
            // Each key costs its bytes and at most 16 of framing.
            if bytes + 16 * keys.len() > limit {
                let mut out = Vec::new();
                reply::error(
                    &mut out,
                    format!("ERR the keys matching exceed limits.max_reply_bytes ({limit} bytes); iterate with SCAN instead").as_bytes(),
                );
                return out;
            }
            glommio::yield_if_needed().await;
        }
        let mut out = Vec::with_capacity(bytes + 16 * keys.len() + 16);
        reply::array(&mut out, keys.len());
        for key in &keys {
            reply::bulk(&mut out, key);
        }
        out
    }));
    Flow::Reply
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]: see [`crate::builtin::resp::scan`] for the cursor
/// and why a key present throughout a full scan is always returned. MATCH and TYPE filter after the step,
/// as in Redis, so a step may return no keys and a cursor other than 0.
pub fn scan(c: &mut Call<'_>) -> Flow {
    let Some(cursor) = scan::parse_cursor(c.args[1]) else {
        reply::error(c.out, b"ERR invalid cursor");
        return Flow::Reply;
    };
    let options = match scan::Options::parse(&c.args[2..], true) {
        Ok(options) => options,
        Err(message) => {
            reply::error(c.out, message);
            return Flow::Reply;
        }
    };
    let (mut keys, next) = c.parts.scan(cursor, options.count, c.now);
    if let Some(pattern) = options.pattern {
        keys.retain(|key| glob::matches(pattern, key, false));
    }
    // Every value is a string.
    if options
        .type_name
        .is_some_and(|t| !t.eq_ignore_ascii_case(b"string"))
    {
        keys.clear();
    }
    reply::array(c.out, 2);
    reply::bulk(c.out, next.to_string().as_bytes());
    reply::array(c.out, keys.len());
    for key in &keys {
        reply::bulk(c.out, key);
    }
    Flow::Reply
}

const OBJECT_HELP: [&str; 12] = [
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key, OBJECT HELP: read from the key's slot without counting as
/// an access. REFCOUNT is what Redis would answer: its shared integers 0-9999 (kept only while no LRU or
/// LFU policy needs per-key access records) count as 2147483647, every other value 1.
pub fn object(c: &mut Call<'_>) -> Flow {
    let table = [
        ("help", 2),
        ("encoding", 3),
        ("freq", 3),
        ("idletime", 3),
        ("refcount", 3),
    ];
    let Some(sub) = subcommand(c, "object", &table) else {
        return Flow::Reply;
    };
    if sub == "help" {
        help(c.out, "OBJECT", &OBJECT_HELP);
        return Flow::Reply;
    }
    let key = c.args[2];
    let found = c.parts.lock(key).object(key, c.now);
    let Some(object) = found else {
        reply::nil(c.out, c.session.protocol);
        return Flow::Reply;
    };
    let (_, policy) = c.resp.keyspace.limit();
    let lfu = matches!(policy, Policy::AllKeysLfu | Policy::VolatileLfu);
    match sub {
        "encoding" => reply::bulk(c.out, object.encoding.name().as_bytes()),
        "freq" if !lfu => reply::error(c.out, b"ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        "freq" => reply::integer(c.out, i64::from(object.frequency)),
        "idletime" if lfu => reply::error(c.out, b"ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        "idletime" => reply::integer(c.out, i64::from(object.idle_seconds)),
        _ => {
            let (max_memory, _) = c.resp.keyspace.limit();
            let shared = object.small_integer && (max_memory == 0 || !policy.tracks_access());
            reply::integer(c.out, if shared { i64::from(i32::MAX) } else { 1 });
        }
    }
    Flow::Reply
}

const MEMORY_HELP: [&str; 2] = [
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value, as maxmemory counts it.",
];

/// MEMORY USAGE key [SAMPLES count], MEMORY HELP. The bytes are pincore's own count (the key's slot, its
/// share of the table and every element's block, see `Store::bytes`), which `maxmemory` bounds; Redis's
/// figure is its allocator's and differs. SAMPLES is accepted and checked; every element is counted.
pub fn memory(c: &mut Call<'_>) -> Flow {
    let Some(sub) = subcommand(c, "memory", &[("help", 2), ("usage", -3)]) else {
        return Flow::Reply;
    };
    if sub == "help" {
        help(c.out, "MEMORY", &MEMORY_HELP);
        return Flow::Reply;
    }
    let options = &c.args[3..];
    let samples_ok = match options {
        [] => true,
        [word, count] if word.eq_ignore_ascii_case(b"SAMPLES") => {
            if parse_i64(count).is_none() {
                reply::error(c.out, b"ERR value is not an integer or out of range");
                return Flow::Reply;
            }
            true
        }
        _ => false,
    };
    if !samples_ok {
        reply::error(c.out, b"ERR syntax error");
        return Flow::Reply;
    }
    let key = c.args[2];
    match c.parts.lock(key).usage(key, c.now) {
        Some(bytes) => reply::integer(c.out, bytes as i64),
        None => reply::nil(c.out, c.session.protocol),
    }
    Flow::Reply
}
