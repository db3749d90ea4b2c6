//! Generic key commands: DEL, EXISTS, EXPIRE, TTL.

use pincore_resp::reply;

use super::{Call, Flow};
use crate::builtin::resp::kv;

/// DEL and EXISTS: every key's part locked at once (in ascending order), so the count is atomic.
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

pub fn del(c: &mut Call<'_>) -> Flow {
    count(c, true)
}

pub fn exists(c: &mut Call<'_>) -> Flow {
    count(c, false)
}

pub fn expire(c: &mut Call<'_>) -> Flow {
    let (key, seconds) = (c.args[1], c.args[2]);
    kv::expire(&mut c.resp.keyspace.lock(key), key, seconds, c.now, c.out);
    Flow::Reply
}

pub fn ttl(c: &mut Call<'_>) -> Flow {
    kv::ttl(
        &mut c.resp.keyspace.lock(c.args[1]),
        c.args[1],
        c.now,
        c.out,
    );
    Flow::Reply
}
