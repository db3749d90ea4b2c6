//! Blocking pops (BLPOP, BRPOP, BLMOVE, BZPOPMIN, BZPOPMAX, BLMPOP, BZMPOP): a client whose keys are all empty waits in its
//! connection's task, never holding a part lock or its shard, and is served in the order clients began to
//! wait, whichever shard pushes.
//!
//! Every waiting client takes a place in a first-in, first-out queue per key ([`Waiters`], shared by every
//! shard) and hangs a [`Bell`] on each of its keys in the keyspace part that stores it. A waiting client
//! sleeps until its bell rings: any change of one of its keys (a push, on whatever shard, or inside an EXEC)
//! rings it, and so does its turn coming (the client before it in a queue left). Woken, it may take from a
//! key only when it is first in that key's queue, so two clients waiting on one key are served in arrival
//! order, and a command that starts to block never overtakes one already waiting; an idle blocked client
//! costs no CPU. The connection also watches its socket, so a client that hangs up gives up its places at
//! once and is never handed an element it cannot receive.

use std::sync::Arc;
use std::time::Instant;

use pincore_resp::reply::{self, Protocol};

use super::keyspace::{Keyspace, Parts};
use super::notify::{self, class};
use super::propagate;
use super::pubsub::PubSub;
use super::types::list::End;
use super::types::zset::score_reply;
use super::types::{List, Typed, WrongType, ZSet};
use super::watchers::Bell;

/// What a blocked command takes once one of its keys has something.
#[derive(Debug, Clone)]
pub enum Take {
    /// BLPOP, BRPOP: an element from that end; the reply is `[key, element]`.
    Pop(End),
    /// BLMOVE: an element from `from` of the source, pushed at `to` of `destination`; the reply is the element.
    Move {
        destination: Vec<u8>,
        from: End,
        to: End,
    },
    /// BZPOPMIN (`max` false), BZPOPMAX: the reply is `[key, member, score]`.
    ZPop { max: bool },
    /// LMPOP, BLMPOP: up to `count` elements from that end; the reply is `[key, [element ...]]`.
    PopMany { end: End, count: usize },
    /// ZMPOP, BZMPOP: up to `count` members; the reply is `[key, [[member, score] ...]]`.
    ZPopMany { max: bool, count: usize },
}

/// A command waiting for one of its keys.
pub struct Blocked {
    pub take: Take,
    pub keys: Vec<Vec<u8>>,
    /// `None` waits for ever (timeout 0).
    pub deadline: Option<Instant>,
    /// Rung when one of the keys changes or the command's turn comes.
    pub bell: Arc<Bell>,
    id: u64,
    /// The connection's id (CLIENT UNBLOCK finds the bell by it).
    client: u64,
}

impl Blocked {
    /// Queues the command on its keys and hangs its bell on them. Takes each key's part lock in turn, so
    /// the caller holds none.
    pub fn new(
        keyspace: &Keyspace,
        take: Take,
        keys: Vec<Vec<u8>>,
        deadline: Option<Instant>,
        client: u64,
    ) -> Blocked {
        let bell = Arc::new(Bell::default());
        for key in &keys {
            keyspace.lock(key).watchers.hang(key, &bell);
        }
        let id = keyspace.waiters.register(&keys, &bell, client);
        Blocked {
            take,
            keys,
            deadline,
            bell,
            id,
            client,
        }
    }

    /// Gives up the command's places (served, timed out, or the client is gone).
    pub fn finish(self, keyspace: &Keyspace) {
        keyspace
            .waiters
            .unregister(self.id, &self.keys, self.client);
        for key in &self.keys {
            keyspace.lock(key).watchers.unhang(key, &self.bell);
        }
    }

    /// Takes from the first of its keys where it is first in line and there is something; true when the
    /// reply is written.
    pub fn try_serve(
        &self,
        keyspace: &Keyspace,
        pubsub: &PubSub,
        protocol: Protocol,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> bool {
        let waiters = &keyspace.waiters;
        if keyspace.feed.active() {
            return self.keys.iter().any(|key| {
                waiters.first(self.id, key)
                    && take_propagated(keyspace, pubsub, &self.take, key, protocol, now, out)
            });
        }
        let mut parts = Parts::Lock(keyspace);
        self.keys.iter().any(|key| {
            waiters.first(self.id, key)
                && take(&mut parts, pubsub, &self.take, key, protocol, now, out)
        })
    }

    /// The reply when the timeout passes: a null array, BLMOVE's included (as Redis 7.0 replies).
    pub fn timed_out(&self, protocol: Protocol, out: &mut Vec<u8>) {
        reply::nil_array(out, protocol);
    }
}

/// The commands that serve their pops through [`take`] and, with a replica attached, propagate them
/// themselves ([`take_propagated`]): they must not run as a transaction of one, since a pop that blocks
/// registers its wait under its keys' parts.
pub const PROPAGATE_THEMSELVES: [&str; 10] = [
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "bzpopmin",
    "bzpopmax",
    "lmpop",
    "blmpop",
    "zmpop",
    "bzmpop",
];

/// [`take`] while the feed has a consumer: the parts it touches are held until what it took is propagated as
/// the pop Redis propagates for a served blocked client (LPOP, LMOVE, ZPOPMIN with the count taken, ...).
pub fn take_propagated(
    keyspace: &Keyspace,
    pubsub: &PubSub,
    what: &Take,
    key: &[u8],
    protocol: Protocol,
    now: Instant,
    out: &mut Vec<u8>,
) -> bool {
    let mut keys = vec![key];
    if let Take::Move { destination, .. } = what {
        keys.push(destination);
    }
    let mut held = keyspace.lock_keys(keys);
    let before = propagate::changes(&mut held);
    let mark = out.len();
    let mut parts = Parts::Held {
        keyspace,
        held: &mut held,
    };
    if !take(&mut parts, pubsub, what, key, protocol, now, out) {
        return false;
    }
    let side = |end: &End| match end {
        End::Left => &b"LEFT"[..],
        End::Right => b"RIGHT",
    };
    let (name, args): (&str, Vec<&[u8]>) = match what {
        Take::Pop(End::Left) => ("blpop", vec![b"BLPOP", key, b"0"]),
        Take::Pop(End::Right) => ("brpop", vec![b"BRPOP", key, b"0"]),
        Take::PopMany { end, .. } => ("blmpop", vec![b"BLMPOP", b"0", b"1", key, side(end)]),
        Take::Move {
            destination,
            from,
            to,
        } => (
            "blmove",
            vec![b"BLMOVE", key, destination, side(from), side(to), b"0"],
        ),
        Take::ZPop { max: false } => ("bzpopmin", vec![b"BZPOPMIN", key, b"0"]),
        Take::ZPop { max: true } => ("bzpopmax", vec![b"BZPOPMAX", key, b"0"]),
        Take::ZPopMany { max, .. } => {
            let side: &[u8] = if *max { b"MAX" } else { b"MIN" };
            ("bzmpop", vec![b"BZMPOP", b"0", b"1", key, side])
        }
    };
    let propagated = propagate::of(&mut held, before, name, &args, &out[mark..], now);
    propagate::dropped(keyspace, &mut held);
    keyspace.feed.append(&propagated);
    true
}

/// Takes from `key` as `take` says, if it holds something of the right kind; true when the reply is written
/// and the pop notified (as Redis's pops notify: the pop's event, then `del` when it emptied the key). A key
/// of another kind is passed over, as Redis passes it over for a blocked client.
pub fn take(
    parts: &mut Parts<'_>,
    pubsub: &PubSub,
    take: &Take,
    key: &[u8],
    protocol: Protocol,
    now: Instant,
    out: &mut Vec<u8>,
) -> bool {
    let emptied = match take {
        Take::Pop(end) => {
            let Some((values, emptied)) = pop_list(parts, key, *end, 1, now) else {
                return false;
            };
            reply::array(out, 2);
            reply::bulk(out, key);
            reply::bulk(out, &values[0]);
            notify::key(pubsub, class::LIST, end.pop_event(), key);
            emptied
        }
        Take::PopMany { end, count } => {
            let Some((values, emptied)) = pop_list(parts, key, *end, *count, now) else {
                return false;
            };
            reply::array(out, 2);
            reply::bulk(out, key);
            reply::array(out, values.len());
            for value in &values {
                reply::bulk(out, value);
            }
            notify::key(pubsub, class::LIST, end.pop_event(), key);
            emptied
        }
        Take::Move {
            destination,
            from,
            to,
        } => {
            let mut locked = parts.lock_keys([key, destination.as_slice()]);
            if !matches!(locked.store(key).read::<List>(key, now), Ok(Some(_))) {
                return false;
            }
            if locked
                .store(destination)
                .read::<List>(destination, now)
                .is_err()
            {
                // As Redis serves a waiting BLMOVE whose destination became another kind: WRONGTYPE, and
                // the element stays in the source.
                reply::error(out, WrongType::MESSAGE);
                return true;
            }
            let popped = locked
                .store(key)
                .change(key, now, false, |l: &mut List| (l.pop(*from), l.is_empty()));
            let Ok(Some((Some(value), emptied))) = popped else {
                return false;
            };
            // Checked above: the destination is a list or missing.
            let _ = locked
                .store(destination)
                .change(destination, now, true, |l: &mut List| l.push(*to, &value));
            reply::bulk(out, &value);
            notify::key(pubsub, class::LIST, from.pop_event(), key);
            notify::key(pubsub, class::LIST, to.push_event(), destination);
            emptied && key != destination.as_slice()
        }
        Take::ZPop { max } => {
            let Some((popped, emptied)) = pop_zset(parts, key, *max, 1, now) else {
                return false;
            };
            let (member, value) = &popped[0];
            reply::array(out, 3);
            reply::bulk(out, key);
            reply::bulk(out, member);
            score_reply(out, protocol, *value);
            notify::key(pubsub, class::ZSET, zpop_event(*max), key);
            emptied
        }
        Take::ZPopMany { max, count } => {
            let Some((popped, emptied)) = pop_zset(parts, key, *max, *count, now) else {
                return false;
            };
            reply::array(out, 2);
            reply::bulk(out, key);
            reply::array(out, popped.len());
            for (member, value) in &popped {
                reply::array(out, 2);
                reply::bulk(out, member);
                score_reply(out, protocol, *value);
            }
            notify::key(pubsub, class::ZSET, zpop_event(*max), key);
            emptied
        }
    };
    if emptied {
        notify::key(pubsub, class::GENERIC, "del", key);
    }
    true
}

/// What a pop took (at least one element or member), and whether that emptied its key.
type Popped<V> = Option<(Vec<V>, bool)>;

/// Up to `count` of what `pop_one` takes, one at a time, from the collection of kind `T` at `key`; `None` when
/// there is none of that kind there (missing, or another kind).
fn pop_from<T: Typed, V>(
    parts: &mut Parts<'_>,
    key: &[u8],
    count: usize,
    now: Instant,
    mut pop_one: impl FnMut(&mut T) -> Option<V>,
) -> Popped<V> {
    let popped = parts.lock(key).change(key, now, false, |c: &mut T| {
        let taken: Vec<V> = (0..count).map_while(|_| pop_one(c)).collect();
        (taken, c.is_empty())
    });
    match popped {
        Ok(Some((taken, emptied))) if !taken.is_empty() => Some((taken, emptied)),
        _ => None,
    }
}

/// Up to `count` elements from `end` of the list at `key`.
fn pop_list(
    parts: &mut Parts<'_>,
    key: &[u8],
    end: End,
    count: usize,
    now: Instant,
) -> Popped<Box<[u8]>> {
    pop_from(parts, key, count, now, |l: &mut List| l.pop(end))
}

/// Up to `count` of the lowest (or with `max` highest) scored members of the sorted set at `key`.
fn pop_zset(
    parts: &mut Parts<'_>,
    key: &[u8],
    max: bool,
    count: usize,
    now: Instant,
) -> Popped<(Vec<u8>, f64)> {
    pop_from(parts, key, count, now, |z: &mut ZSet| z.pop(max))
}

/// The event ZPOPMIN (`max` false) and ZPOPMAX notify.
fn zpop_event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_served_in_arrival_order_and_leave_no_trace() {
        let keyspace = Keyspace::default();
        let pubsub = PubSub::default();
        let now = Instant::now();
        let first = Blocked::new(
            &keyspace,
            Take::Pop(End::Left),
            vec![b"q".to_vec()],
            None,
            1,
        );
        let second = Blocked::new(
            &keyspace,
            Take::Pop(End::Left),
            vec![b"q".to_vec()],
            None,
            2,
        );
        assert!(!keyspace.waiters.none_on(b"q"));
        assert!(!first.bell.rung_now() && !second.bell.rung_now());
        keyspace
            .lock(b"q")
            .change(b"q", now, true, |l: &mut List| l.push(End::Right, b"x"))
            .unwrap();
        assert!(first.bell.rung_now(), "a push rings the waiters' bells");
        assert!(second.bell.rung_now());
        let mut out = Vec::new();
        assert!(
            !second.try_serve(&keyspace, &pubsub, Protocol::Resp2, now, &mut out),
            "not first in line"
        );
        assert!(first.try_serve(&keyspace, &pubsub, Protocol::Resp2, now, &mut out));
        assert_eq!(out, b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
        assert!(
            !second.bell.rung_now(),
            "only the first in line is woken by its turn"
        );
        first.finish(&keyspace);
        assert!(second.bell.rung_now(), "the next in line is woken");
        assert!(
            !second.try_serve(&keyspace, &pubsub, Protocol::Resp2, now, &mut out),
            "nothing left"
        );
        second.finish(&keyspace);
        assert!(keyspace.waiters.none_on(b"q"));
        assert!(keyspace.waiters.is_empty());
        assert!(
            keyspace.lock(b"q").watchers.is_empty(),
            "no bell left hanging"
        );
    }
}
