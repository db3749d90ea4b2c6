//! String commands: GET, SET, INCR, INCRBY, DECR, MGET, MSET.

use pincore_resp::reply;

use super::{wrong_arity, Call, Flow};
use crate::builtin::resp::kv;
use crate::builtin::resp::store::{SetCondition, SetTtl};

pub fn get(c: &mut Call<'_>) -> Flow {
    kv::get(
        &mut c.resp.keyspace.lock(c.args[1]),
        c.args[1],
        c.now,
        c.session.protocol,
        c.out,
    );
    Flow::Reply
}

pub fn set(c: &mut Call<'_>) -> Flow {
    kv::set(
        &mut c.resp.keyspace.lock(c.args[1]),
        c.args,
        c.now,
        c.session.protocol,
        c.out,
    );
    Flow::Reply
}

pub fn incr(c: &mut Call<'_>) -> Flow {
    kv::incr_by(
        &mut c.resp.keyspace.lock(c.args[1]),
        c.args[1],
        Ok(1),
        c.now,
        c.out,
    );
    Flow::Reply
}

pub fn decr(c: &mut Call<'_>) -> Flow {
    kv::incr_by(
        &mut c.resp.keyspace.lock(c.args[1]),
        c.args[1],
        Ok(-1),
        c.now,
        c.out,
    );
    Flow::Reply
}

pub fn incrby(c: &mut Call<'_>) -> Flow {
    let (key, delta) = (c.args[1], c.args[2]);
    kv::incr_by(
        &mut c.resp.keyspace.lock(key),
        key,
        Err(delta),
        c.now,
        c.out,
    );
    Flow::Reply
}

pub fn mget(c: &mut Call<'_>) -> Flow {
    let keys = &c.args[1..];
    let mut locked = c.resp.keyspace.lock_keys(keys.iter().copied());
    reply::array(c.out, keys.len());
    for k in keys {
        match locked.store(k).get(k, c.now) {
            Some(v) => reply::bulk(c.out, v),
            None => reply::nil(c.out, c.session.protocol),
        }
    }
    Flow::Reply
}

pub fn mset(c: &mut Call<'_>) -> Flow {
    if c.args.len().is_multiple_of(2) {
        return wrong_arity(c, "mset");
    }
    let pairs = c.args[1..].chunks_exact(2);
    let mut locked = c.resp.keyspace.lock_keys(pairs.clone().map(|p| p[0]));
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
    reply::simple(c.out, b"OK");
    Flow::Reply
}
