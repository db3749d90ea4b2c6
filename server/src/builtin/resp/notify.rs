//! Keyspace notifications (`notify-keyspace-events`, Redis's `notify.c`): a command that changed a key
//! publishes `__keyspace@0__:<key>` with the event's name and `__keyevent@0__:<event>` with the key, through
//! the shared pub/sub registry, when its class is enabled.
//!
//! Which command notifies what is one table ([`event_of`]), read after the command ran: the event fires for
//! each key it names when the reply says the command did its work (not an error; for commands whose reply
//! counts or returns what changed, not nil and not 0), which is when Redis's commands call
//! `notifyKeyspaceEvent`. With notifications off (the default) a command pays one relaxed atomic load.

use super::pubsub::PubSub;
use super::tracking::TRACKING;

pub use super::pubsub::class;

/// The letters in the order Redis writes them back (`keyspaceEventsFlagsToString`).
const LETTERS: [(char, u32); 11] = [
    ('g', class::GENERIC),
    ('$', class::STRING),
    ('l', class::LIST),
    ('s', class::SET),
    ('h', class::HASH),
    ('z', class::ZSET),
    ('x', class::EXPIRED),
    ('e', class::EVICTED),
    ('t', class::STREAM),
    ('d', class::MODULE),
    ('n', class::NEW),
];

/// Why a `notify-keyspace-events` value was refused.
pub const INVALID: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// The flags `text` names, or `None` for a letter Redis does not know.
pub fn parse(text: &str) -> Option<u32> {
    text.chars().try_fold(0, |flags, letter| {
        let bit = match letter {
            'A' => class::ALL,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            'm' => class::KEY_MISS,
            _ => LETTERS.iter().find(|(l, _)| *l == letter)?.1,
        };
        Some(flags | bit)
    })
}

/// `flags` as CONFIG GET shows them: `A` for all classes, then `K`, `E`, `m`.
pub fn render(flags: u32) -> String {
    let mut text = String::new();
    // As Redis writes them: `n` is not shown beside `A` (it stays enabled).
    if flags & class::ALL == class::ALL {
        text.push('A');
    } else {
        text.extend(
            LETTERS
                .iter()
                .filter(|(_, bit)| flags & bit != 0)
                .map(|(l, _)| *l),
        );
    }
    for (letter, bit) in [
        ('K', class::KEYSPACE),
        ('E', class::KEYEVENT),
        ('m', class::KEY_MISS),
    ] {
        if flags & bit != 0 {
            text.push(letter);
        }
    }
    text
}

/// When a command's reply says it changed its keys.
#[derive(Clone, Copy)]
enum Done {
    /// Any reply but an error.
    Ran,
    /// Not an error, not nil and not the integer 0 (a count of what changed, or what was removed).
    Changed,
}

/// Which keys an event is about.
#[derive(Clone, Copy)]
enum Keys {
    First,
    /// Every other argument from the first (MSET's keys).
    Pairs,
}

/// The class and event a command notifies, as Redis 7.0's commands name them.
fn event_of(name: &str) -> Option<(u32, &'static str, Done, Keys)> {
    use class::*;
    use Done::{Changed, Ran};
    use Keys::{First, Pairs};
    Some(match name {
        "set" | "setex" | "psetex" | "getset" => (STRING, "set", Ran, First),
        "setnx" => (STRING, "set", Changed, First),
        "mset" => (STRING, "set", Ran, Pairs),
        "append" => (STRING, "append", Ran, First),
        "setrange" => (STRING, "setrange", Ran, First),
        "setbit" => (STRING, "setbit", Ran, First),
        "incr" | "incrby" | "decr" | "decrby" => (STRING, "incrby", Ran, First),
        "incrbyfloat" => (STRING, "incrbyfloat", Ran, First),
        "getdel" => (GENERIC, "del", Changed, First),
        "expire" | "pexpire" | "expireat" | "pexpireat" => (GENERIC, "expire", Changed, First),
        "persist" => (GENERIC, "persist", Changed, First),
        "lpush" | "lpushx" => (LIST, "lpush", Changed, First),
        "rpush" | "rpushx" => (LIST, "rpush", Changed, First),
        "lpop" => (LIST, "lpop", Changed, First),
        "rpop" => (LIST, "rpop", Changed, First),
        "lset" => (LIST, "lset", Ran, First),
        "linsert" => (LIST, "linsert", Changed, First),
        "lrem" => (LIST, "lrem", Changed, First),
        "ltrim" => (LIST, "ltrim", Ran, First),
        "sadd" => (SET, "sadd", Changed, First),
        "srem" => (SET, "srem", Changed, First),
        "spop" => (SET, "spop", Changed, First),
        "zadd" => (ZSET, "zadd", Ran, First),
        "zincrby" => (ZSET, "zincr", Ran, First),
        "zrem" => (ZSET, "zrem", Changed, First),
        "hset" | "hmset" => (HASH, "hset", Ran, First),
        "hsetnx" => (HASH, "hset", Changed, First),
        "hdel" => (HASH, "hdel", Changed, First),
        "hincrby" => (HASH, "hincrby", Ran, First),
        "hincrbyfloat" => (HASH, "hincrbyfloat", Ran, First),
        "sort" => (LIST, "sortstore", Changed, First),
        _ => return None,
    })
}

/// After the command named `name` (its table row's name) ran with `args` and answered `reply`: its
/// notifications, if their class is on.
#[inline]
pub fn after(pubsub: &PubSub, name: &str, args: &[&[u8]], reply: &[u8]) {
    let flags = pubsub.raw_events();
    if flags != 0 {
        after_cold(pubsub, flags, name, args, reply);
    }
}

/// Notifications are on, or some connection tracks keys: the command's notifications, and the BCAST
/// invalidations of the keys it wrote (see [`super::tracking`]).
#[cold]
fn after_cold(pubsub: &PubSub, flags: u32, name: &str, args: &[&[u8]], reply: &[u8]) {
    if flags & TRACKING != 0 {
        pubsub.tracking.broadcast(pubsub.limit());
    }
    let flags = flags & !TRACKING;
    if flags != 0 {
        notify_command(pubsub, flags, name, args, reply);
    }
}

#[cold]
fn notify_command(pubsub: &PubSub, flags: u32, name: &str, args: &[&[u8]], reply: &[u8]) {
    let Some((class, event, done, keys)) = event_of(name) else {
        return;
    };
    if name == "sort" && !args.iter().any(|a| a.eq_ignore_ascii_case(b"store")) {
        return;
    }
    let failed = reply.first() == Some(&b'-');
    let nothing = matches!(
        reply,
        b":0\r\n" | b"$-1\r\n" | b"*-1\r\n" | b"_\r\n" | b"*0\r\n"
    );
    if failed || (matches!(done, Done::Changed) && nothing) {
        return;
    }
    match keys {
        Keys::First => publish(pubsub, flags, class, event, args[1]),
        Keys::Pairs => {
            for key in args[1..].iter().step_by(2) {
                publish(pubsub, flags, class, event, key);
            }
        }
    }
}

/// A notification for `key`, if `class` is enabled: for commands that notify per key as they work (DEL);
/// the others are notified from [`event_of`]'s table.
#[inline]
pub fn key(pubsub: &PubSub, class: u32, event: &str, key: &[u8]) {
    let flags = pubsub.events();
    if flags != 0 {
        publish(pubsub, flags, class, event, key);
    }
}

/// One key's notification: on `__keyspace@0__:key` and `__keyevent@0__:event`, as `flags` allow.
pub fn publish(pubsub: &PubSub, flags: u32, class: u32, event: &str, key: &[u8]) {
    pubsub.notify_key(flags, class, event, key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_and_write_back_as_redis_does() {
        for (given, shown) in [
            ("gKE", "gKE"),
            ("$lshzxeKE", "$lshzxeKE"),
            ("KA", "AK"),
            ("EA", "AE"),
            ("", ""),
            ("Em", "Em"),
            ("KEn", "nKE"),
            ("KEAn", "AKE"),
        ] {
            assert_eq!(render(parse(given).unwrap()), shown, "{given}");
        }
        assert_eq!(parse("Kq"), None);
    }
}
