//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB. The registry they
//! change and read, and how messages reach other shards' connections, is [`crate::builtin::resp::pubsub`].

use pincore_resp::reply::{self, Protocol};

use super::{printable, Call, Flow};
use crate::builtin::resp::pubsub::Kind;

pub fn subscribe(c: &mut Call<'_>) -> Flow {
    subscribe_to(c, Kind::Channel)
}

pub fn psubscribe(c: &mut Call<'_>) -> Flow {
    subscribe_to(c, Kind::Pattern)
}

pub fn unsubscribe(c: &mut Call<'_>) -> Flow {
    unsubscribe_from(c, Kind::Channel)
}

pub fn punsubscribe(c: &mut Call<'_>) -> Flow {
    unsubscribe_from(c, Kind::Pattern)
}

/// The word a confirmation starts with.
fn confirmation(kind: Kind, subscribed: bool) -> &'static [u8] {
    match (kind, subscribed) {
        (Kind::Channel, true) => b"subscribe",
        (Kind::Channel, false) => b"unsubscribe",
        (Kind::Pattern, true) => b"psubscribe",
        (Kind::Pattern, false) => b"punsubscribe",
    }
}

/// One (un)subscribe confirmation: a push message in RESP3, an array in RESP2, with the connection's count
/// of subscriptions after it. `name` is `None` for an UNSUBSCRIBE of everything when there was nothing.
fn confirm(out: &mut Vec<u8>, protocol: Protocol, word: &[u8], name: Option<&[u8]>, count: usize) {
    reply::push(out, protocol, 3);
    reply::bulk(out, word);
    match name {
        Some(name) => reply::bulk(out, name),
        None => reply::nil(out, protocol),
    }
    reply::integer(out, count as i64);
}

fn subscribe_to(c: &mut Call<'_>, kind: Kind) -> Flow {
    let protocol = c.session.protocol;
    let subscriptions = c.session.subscriptions(&c.resp.pubsub);
    for name in &c.args[1..] {
        subscriptions.subscribe(kind, name);
        let word = confirmation(kind, true);
        confirm(c.out, protocol, word, Some(name), subscriptions.count());
    }
    Flow::Reply
}

/// Without arguments: from every channel (or pattern) the connection subscribes to, one confirmation each.
fn unsubscribe_from(c: &mut Call<'_>, kind: Kind) -> Flow {
    let protocol = c.session.protocol;
    let word = confirmation(kind, false);
    let Some(subscriptions) = c.session.pubsub.as_mut() else {
        if c.args.len() == 1 {
            confirm(c.out, protocol, word, None, 0);
        }
        for name in &c.args[1..] {
            confirm(c.out, protocol, word, Some(name), 0);
        }
        return Flow::Reply;
    };
    if c.args.len() > 1 {
        for name in &c.args[1..] {
            subscriptions.unsubscribe(kind, name);
            confirm(c.out, protocol, word, Some(name), subscriptions.count());
        }
        return Flow::Reply;
    }
    let names = subscriptions.names(kind);
    if names.is_empty() {
        confirm(c.out, protocol, word, None, subscriptions.count());
    }
    for name in names {
        subscriptions.unsubscribe(kind, &name);
        confirm(c.out, protocol, word, Some(&name), subscriptions.count());
    }
    Flow::Reply
}

/// PUBLISH channel message: delivered to subscribers on every shard; the reply counts them.
pub fn publish(c: &mut Call<'_>) -> Flow {
    let receivers = c.resp.pubsub.publish(c.args[1], c.args[2]);
    // Propagated as Redis 7.0 does, so a replica's subscribers get the message too.
    c.resp
        .keyspace
        .feed
        .append_each([c.args.iter().map(|a| a.to_vec()).collect()]);
    // A connection publishing to a channel it subscribes to sees the message before the count, as in Redis.
    // Should its mailbox be over the limit, the connection notices when it next looks.
    if let Some(subscriptions) = &c.session.pubsub {
        let _ = subscriptions.mailbox().drain_into(c.out);
    }
    reply::integer(c.out, receivers as i64);
    Flow::Reply
}

const HELP: [&str; 9] = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "HELP",
];

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | HELP, over every shard's subscribers.
pub fn pubsub(c: &mut Call<'_>) -> Flow {
    let (args, out, pubsub) = (c.args, &mut *c.out, &c.resp.pubsub);
    let sub = args[1].to_ascii_lowercase();
    let arity_ok = match &sub[..] {
        // Redis checks CHANNELS' upper bound itself, after the table's arity check, in other words.
        b"channels" if args.len() > 3 => {
            let text = format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                printable(args[1])
            );
            reply::error(out, text.as_bytes());
            return Flow::Reply;
        }
        b"channels" | b"numsub" => true,
        b"numpat" | b"help" => args.len() == 2,
        _ => {
            let text = format!(
                "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
                printable(args[1])
            );
            reply::error(out, text.as_bytes());
            return Flow::Reply;
        }
    };
    if !arity_ok {
        c.resp.ctx.error("wrong_arity");
        let text = format!(
            "ERR wrong number of arguments for 'pubsub|{}' command",
            printable(&sub)
        );
        reply::error(out, text.as_bytes());
        return Flow::Reply;
    }
    match &sub[..] {
        b"channels" => {
            let channels = pubsub.channels(args.get(2).copied());
            reply::array(out, channels.len());
            for channel in channels {
                reply::bulk(out, &channel);
            }
        }
        b"numsub" => {
            reply::array(out, (args.len() - 2) * 2);
            for channel in &args[2..] {
                reply::bulk(out, channel);
                reply::integer(out, pubsub.subscribers(channel) as i64);
            }
        }
        b"numpat" => reply::integer(out, pubsub.patterns() as i64),
        _ => {
            reply::array(out, HELP.len() + 1);
            for line in HELP {
                reply::simple(out, line.as_bytes());
            }
            reply::simple(out, b"    Print this help.");
        }
    }
    Flow::Reply
}
