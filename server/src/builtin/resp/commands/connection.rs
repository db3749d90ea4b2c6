//! Connection commands: HELLO, AUTH, ACL WHOAMI, PING, ECHO, QUIT, CLIENT, SELECT, RESET.

use pincore_resp::reply::{self, Protocol};

use std::rc::Rc;
use std::time::Instant;

use super::{help, printable, subcommand, wrong_arity, Call, Flow, ReplyMode};
use crate::builtin::resp::clients::KillFilter;
use crate::builtin::resp::expiry::SYNTAX;
use crate::builtin::resp::info::REDIS_VERSION;
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::watchers::Unblock;
use crate::builtin::resp::Resp;

/// HELLO [protover [AUTH username password] [SETNAME clientname]]: switches the connection to RESP2 or RESP3
/// and answers with the server's facts, as a map in the protocol now spoken. Every option is checked before
/// any takes effect.
pub fn hello(c: &mut Call<'_>) -> Flow {
    let args = c.args;
    let mut protocol = c.session.protocol;
    let mut rest = &args[1..];
    if let Some((version, after)) = rest.split_first() {
        protocol = match &version[..] {
            b"2" => Protocol::Resp2,
            b"3" => Protocol::Resp3,
            v if crate::builtin::resp::store::parse_i64(v).is_some() => {
                reply::error(
                    c.out,
                    b"NOPROTO sorry, this protocol version is not supported.",
                );
                return Flow::Reply;
            }
            _ => {
                reply::error(
                    c.out,
                    b"ERR Protocol version is not an integer or out of range",
                );
                return Flow::Reply;
            }
        };
        rest = after;
    }
    let mut name = None;
    while let Some((option, after)) = rest.split_first() {
        match after {
            [user, password, tail @ ..] if option.eq_ignore_ascii_case(b"AUTH") => {
                if let Err(message) = c.resp.authenticate(user, password) {
                    reply::error(c.out, message);
                    return Flow::Reply;
                }
                c.session.authenticated = true;
                *c.session.client.user.borrow_mut() = Some(user.to_vec());
                c.session.acl_version = 0;
                rest = tail;
            }
            [client_name, tail @ ..] if option.eq_ignore_ascii_case(b"SETNAME") => {
                if !valid_client_name(client_name) {
                    reply::error(c.out, INVALID_NAME);
                    return Flow::Reply;
                }
                name = Some(*client_name);
                rest = tail;
            }
            _ => {
                let text = format!("ERR Syntax error in HELLO option '{}'", printable(option));
                reply::error(c.out, text.as_bytes());
                return Flow::Reply;
            }
        }
    }
    if !c.session.authenticated && c.resp.needs_auth() {
        reply::error(
            c.out,
            b"NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
        return Flow::Reply;
    }
    if let Some(name) = name {
        *c.session.client.name.borrow_mut() = (!name.is_empty()).then(|| name.to_vec());
    }
    c.session.protocol = protocol;
    if let Some(mailbox) = c.session.mailbox() {
        mailbox.set_protocol(protocol);
    }
    c.session.client.protocol.set(protocol.version() as u8);
    let out = &mut *c.out;
    reply::map(out, protocol, 7);
    reply::bulk(out, b"server");
    reply::bulk(out, b"redis");
    reply::bulk(out, b"version");
    reply::bulk(out, REDIS_VERSION.as_bytes());
    reply::bulk(out, b"proto");
    reply::integer(out, protocol.version());
    reply::bulk(out, b"id");
    reply::integer(out, c.session.id as i64);
    reply::bulk(out, b"mode");
    reply::bulk(out, b"standalone");
    reply::bulk(out, b"role");
    reply::bulk(out, b"master");
    reply::bulk(out, b"modules");
    reply::array(out, 0);
    Flow::Reply
}

/// AUTH [username] password.
pub fn auth(c: &mut Call<'_>) -> Flow {
    let (user, password): (&[u8], &[u8]) = match c.args {
        [_, password] => (b"default", password),
        [_, user, password] => (user, password),
        _ => {
            reply::error(c.out, b"ERR syntax error");
            return Flow::Reply;
        }
    };
    if c.args.len() == 2 && c.resp.acl.user(b"default").is_some_and(|u| u.nopass) {
        reply::error(
            c.out,
            b"ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
        return Flow::Reply;
    }
    match c.resp.authenticate(user, password) {
        Ok(()) => {
            c.session.authenticated = true;
            *c.session.client.user.borrow_mut() = Some(user.to_vec());
            c.session.acl_version = 0;
            reply::simple(c.out, b"OK");
        }
        Err(message) => reply::error(c.out, message),
    }
    Flow::Reply
}

const INVALID_NAME: &[u8] =
    b"ERR Client names cannot contain spaces, newlines or special characters.";

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| b > b' ' && b <= b'~')
}

pub fn ping(c: &mut Call<'_>) -> Flow {
    // A subscribed RESP2 connection reads every reply as a message: PING answers in that shape.
    if c.session.protocol == Protocol::Resp2 && c.session.subscribed() {
        let message: &[u8] = match c.args {
            [_] => b"",
            [_, message] => message,
            _ => return wrong_arity(c, "ping"),
        };
        reply::array(c.out, 2);
        reply::bulk(c.out, b"pong");
        reply::bulk(c.out, message);
        return Flow::Reply;
    }
    match c.args {
        [_] => reply::simple(c.out, b"PONG"),
        [_, message] => reply::bulk(c.out, message),
        _ => return wrong_arity(c, "ping"),
    }
    Flow::Reply
}

pub fn echo(c: &mut Call<'_>) -> Flow {
    reply::bulk(c.out, c.args[1]);
    Flow::Reply
}

pub fn quit(c: &mut Call<'_>) -> Flow {
    reply::simple(c.out, b"OK");
    Flow::Close
}

/// RESET: the connection as new, as Redis 7.0's `clearClientConnectionState`: no transaction, no watched
/// key, no subscription, RESP2, no name, and authenticated only if the service is open.
pub fn reset(c: &mut Call<'_>) -> Flow {
    c.session.end_transaction(&mut c.parts);
    c.session.pubsub = None;
    c.resp.pubsub.tracking.mailbox_of(c.session.id, None);
    c.session.tracking = None;
    c.session.caching = false;
    *c.session.client.tracking.borrow_mut() = None;
    c.session.protocol = Protocol::Resp2;
    c.session
        .client
        .protocol
        .set(Protocol::Resp2.version() as u8);
    *c.session.client.name.borrow_mut() = None;
    *c.session.client.user.borrow_mut() = None;
    c.session.reply = super::ReplyMode::On;
    c.session.authenticated = !c.resp.needs_auth();
    c.session.acl_version = 0;
    reply::simple(c.out, b"RESET");
    Flow::Reply
}

pub fn select(c: &mut Call<'_>) -> Flow {
    if c.args[1] == b"0" {
        reply::simple(c.out, b"OK");
    } else {
        reply::error(c.out, b"ERR DB index is out of range");
    }
    Flow::Reply
}

const CLIENT_HELP: [&str; 28] = [
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID <client-id>, TYPE normal, USER <username>, ADDR <ip:port>,",
    "    LADDR <ip:port>, SKIPME (YES|NO).",
    "LIST [options ...]",
    "    Return information about client connections, on every shard. Options: TYPE normal, ID <id> ...",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "NO-EVICT (ON|OFF)",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
];

/// CLIENT ID, INFO, LIST, KILL, REPLY, NO-EVICT, SETNAME, GETNAME, SETINFO, UNBLOCK, HELP, and the tracking
/// subcommands (in `tracking.rs`). LIST and KILL reach every shard's connections (see [`crate::builtin::resp::clients`]).
pub fn client(c: &mut Call<'_>) -> Flow {
    let table = [
        ("help", 2),
        ("id", 2),
        ("info", 2),
        ("list", -2),
        ("kill", -3),
        ("reply", 3),
        ("no-evict", 3),
        ("setname", 3),
        ("getname", 2),
        ("setinfo", 4),
        ("unblock", -3),
        ("tracking", -3),
        ("caching", 3),
        ("getredir", 2),
        ("trackinginfo", 2),
    ];
    let Some(sub) = subcommand(c, "client", &table) else {
        return Flow::Reply;
    };
    let (args, out) = (c.args, &mut *c.out);
    let client = c.session.client.clone();
    match sub {
        "help" => help(out, "CLIENT", &CLIENT_HELP),
        "id" => reply::integer(out, c.session.id as i64),
        "info" => {
            client.last_command.set("client|info");
            let line = client.line(c.now) + "\n";
            reply::verbatim(out, c.session.protocol, b"txt", line.as_bytes());
        }
        "list" => return client_list(c),
        "kill" => return client_kill(c),
        "unblock" => return client_unblock(c),
        "tracking" => return super::tracking::tracking(c),
        "caching" => return super::tracking::caching(c),
        "getredir" => return super::tracking::getredir(c),
        "trackinginfo" => return super::tracking::trackinginfo(c),
        "reply" => {
            let mode = args[2];
            if mode.eq_ignore_ascii_case(b"ON") {
                c.session.reply = ReplyMode::On;
                reply::simple(out, b"OK");
            } else if mode.eq_ignore_ascii_case(b"OFF") {
                c.session.reply = ReplyMode::Off;
            } else if mode.eq_ignore_ascii_case(b"SKIP") {
                if c.session.reply != ReplyMode::Off {
                    c.session.reply = ReplyMode::SkipNext;
                }
            } else {
                reply::error(out, SYNTAX);
            }
        }
        "no-evict" => {
            let mode = args[2];
            if mode.eq_ignore_ascii_case(b"ON") || mode.eq_ignore_ascii_case(b"OFF") {
                client.no_evict.set(mode.eq_ignore_ascii_case(b"ON"));
                reply::simple(out, b"OK");
            } else {
                reply::error(out, SYNTAX);
            }
        }
        "setname" => {
            if !valid_client_name(args[2]) {
                reply::error(out, INVALID_NAME);
            } else {
                *client.name.borrow_mut() = (!args[2].is_empty()).then(|| args[2].to_vec());
                reply::simple(out, b"OK");
            }
        }
        "getname" => match &*client.name.borrow() {
            Some(name) => reply::bulk(out, name),
            None => reply::nil(out, c.session.protocol),
        },
        // Redis 7.2's library name and version: accepted (clients send it on connect), not kept.
        _ => reply::simple(out, b"OK"),
    }
    Flow::Reply
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends a blocking pop of connection `id` on any shard, with the timeout's
/// reply or the `-UNBLOCKED` error; 1 if it was waiting, else 0 (Redis 7.0's checks, in its order).
fn client_unblock(c: &mut Call<'_>) -> Flow {
    let how = match c.args.get(3) {
        _ if c.args.len() > 4 => {
            reply::error(
                c.out,
                b"ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.",
            );
            return Flow::Reply;
        }
        None => Unblock::Timeout,
        Some(word) if word.eq_ignore_ascii_case(b"TIMEOUT") => Unblock::Timeout,
        Some(word) if word.eq_ignore_ascii_case(b"ERROR") => Unblock::Error,
        Some(_) => {
            reply::error(
                c.out,
                b"ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            );
            return Flow::Reply;
        }
    };
    let Some(id) = parse_i64(c.args[2]) else {
        reply::error(c.out, crate::builtin::resp::expiry::NOT_AN_INTEGER);
        return Flow::Reply;
    };
    let unblocked = u64::try_from(id).is_ok_and(|id| c.resp.keyspace.waiters.unblock(id, how));
    reply::integer(c.out, i64::from(unblocked));
    Flow::Reply
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]: every shard's connections, by id.
fn client_list(c: &mut Call<'_>) -> Flow {
    c.session.client.last_command.set("client|list");
    let args = c.args;
    let mut ids: Option<Vec<u64>> = None;
    if args.len() == 4 && args[2].eq_ignore_ascii_case(b"TYPE") {
        match client_type(args[3]) {
            Some(true) => {}
            Some(false) => {
                reply::verbatim(c.out, c.session.protocol, b"txt", b"");
                return Flow::Reply;
            }
            None => {
                let text = format!("ERR Unknown client type '{}'", printable(args[3]));
                reply::error(c.out, text.as_bytes());
                return Flow::Reply;
            }
        }
    } else if args.len() > 3 && args[2].eq_ignore_ascii_case(b"ID") {
        let mut wanted = Vec::new();
        for id in &args[3..] {
            match parse_i64(id) {
                Some(id) => wanted.push(id as u64),
                None => {
                    reply::error(c.out, b"ERR Invalid client ID");
                    return Flow::Reply;
                }
            }
        }
        ids = Some(wanted);
    } else if args.len() != 2 {
        reply::error(c.out, SYNTAX);
        return Flow::Reply;
    }
    let ctx = c.resp.ctx.clone();
    let protocol = c.session.protocol;
    c.later = Some(Box::pin(async move {
        let replies = ctx
            .on_every_shard(|| {
                let ids = ids.clone();
                move |resp: Rc<Resp>| async move {
                    resp.clients.lines(ids.as_deref(), Instant::now())
                }
            })
            .await;
        let mut lines: Vec<(u64, String)> = replies.into_iter().flatten().flatten().collect();
        lines.sort_unstable_by_key(|(id, _)| *id);
        let mut text = String::new();
        for (_, line) in lines {
            text.push_str(&line);
            text.push('\n');
        }
        let mut out = Vec::new();
        reply::verbatim(&mut out, protocol, b"txt", text.as_bytes());
        out
    }));
    Flow::Reply
}

/// A client type Redis names: `Some(true)` for `normal` (every connection here), `Some(false)` for the
/// kinds pincore has none of, `None` for an unknown name.
fn client_type(name: &[u8]) -> Option<bool> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    match name.as_str() {
        "normal" => Some(true),
        "master" | "slave" | "replica" | "pubsub" => Some(false),
        _ => None,
    }
}

/// CLIENT KILL addr (old form: `+OK` or `No such client`) or CLIENT KILL with ID, TYPE, USER, ADDR, LADDR,
/// SKIPME filters (the number closed), on every shard.
fn client_kill(c: &mut Call<'_>) -> Flow {
    let args = c.args;
    let mut filter = KillFilter {
        asking: c.session.id,
        skip_me: true,
        ..KillFilter::default()
    };
    let old_form = args.len() == 3;
    if old_form {
        filter.addr = Some(args[2].to_vec());
        filter.skip_me = false;
    } else {
        for pair in args[2..].chunks(2) {
            let [option, value] = pair else {
                reply::error(c.out, SYNTAX);
                return Flow::Reply;
            };
            if option.eq_ignore_ascii_case(b"ID") {
                match parse_i64(value) {
                    Some(id) if id >= 1 => filter.id = Some(id as u64),
                    _ => {
                        reply::error(c.out, b"ERR client-id should be greater than 0");
                        return Flow::Reply;
                    }
                }
            } else if option.eq_ignore_ascii_case(b"TYPE") {
                match client_type(value) {
                    Some(normal) => filter.normal_only = Some(normal),
                    None => {
                        let text = format!("ERR Unknown client type '{}'", printable(value));
                        reply::error(c.out, text.as_bytes());
                        return Flow::Reply;
                    }
                }
            } else if option.eq_ignore_ascii_case(b"ADDR") {
                filter.addr = Some(value.to_vec());
            } else if option.eq_ignore_ascii_case(b"LADDR") {
                filter.laddr = Some(value.to_vec());
            } else if option.eq_ignore_ascii_case(b"USER") {
                if !c.resp.user_exists(value) {
                    let text = format!("ERR No such user '{}'", printable(value));
                    reply::error(c.out, text.as_bytes());
                    return Flow::Reply;
                }
                filter.user = Some(value.to_vec());
            } else if option.eq_ignore_ascii_case(b"SKIPME") {
                if value.eq_ignore_ascii_case(b"YES") {
                    filter.skip_me = true;
                } else if value.eq_ignore_ascii_case(b"NO") {
                    filter.skip_me = false;
                } else {
                    reply::error(c.out, SYNTAX);
                    return Flow::Reply;
                }
            } else {
                reply::error(c.out, SYNTAX);
                return Flow::Reply;
            }
        }
    }
    // Marked here, not when the shards answer, so that the commands after it in the same read do not run.
    if !filter.skip_me && filter.matches(&c.session.client) {
        c.session.client.close_after_reply.set(true);
    }
    let ctx = c.resp.ctx.clone();
    c.later = Some(Box::pin(async move {
        let killed: usize = ctx
            .on_every_shard(|| {
                let filter = filter.clone();
                move |resp: Rc<Resp>| async move { resp.clients.kill(&filter) }
            })
            .await
            .into_iter()
            .flatten()
            .sum();
        let mut out = Vec::new();
        match (old_form, killed) {
            (true, 0) => reply::error(&mut out, b"ERR No such client"),
            (true, _) => reply::simple(&mut out, b"OK"),
            (false, n) => reply::integer(&mut out, n as i64),
        }
        out
    }));
    Flow::Reply
}
