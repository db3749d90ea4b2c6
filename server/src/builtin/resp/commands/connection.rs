//! Connection commands: HELLO, PING, ECHO, QUIT, CLIENT, SELECT, RESET.

use pincore_resp::reply::{self, Protocol};

use super::{printable, wrong_arity, Call, Flow};
use crate::builtin::resp::info::REDIS_VERSION;

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
                c.session.user = Some(user.to_vec());
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
        c.session.name = (!name.is_empty()).then(|| name.to_vec());
    }
    c.session.protocol = protocol;
    if let Some(mailbox) = c.session.mailbox() {
        mailbox.set_protocol(protocol);
    }
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
    if c.args.len() == 2 && !c.resp.needs_auth() {
        reply::error(
            c.out,
            b"ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
        return Flow::Reply;
    }
    match c.resp.authenticate(user, password) {
        Ok(()) => {
            c.session.authenticated = true;
            c.session.user = Some(user.to_vec());
            reply::simple(c.out, b"OK");
        }
        Err(message) => reply::error(c.out, message),
    }
    Flow::Reply
}

/// ACL WHOAMI (the one ACL subcommand: users and their rights live in the configuration file).
pub fn acl(c: &mut Call<'_>) -> Flow {
    if c.args.len() == 2 && c.args[1].eq_ignore_ascii_case(b"WHOAMI") {
        let user = c.session.user.as_deref().unwrap_or(b"default");
        reply::bulk(c.out, user);
    } else {
        let text = format!(
            "ERR unknown subcommand '{}'. pincore-server supports ACL WHOAMI only: users are configured in services.resp.settings.users.",
            printable(c.args[1])
        );
        reply::error(c.out, text.as_bytes());
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
    c.session.protocol = Protocol::Resp2;
    c.session.name = None;
    c.session.user = None;
    c.session.authenticated = !c.resp.needs_auth();
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

pub fn client(c: &mut Call<'_>) -> Flow {
    let (args, out) = (c.args, &mut *c.out);
    let sub = args[1];
    if sub.eq_ignore_ascii_case(b"SETNAME") && args.len() == 3 {
        if !valid_client_name(args[2]) {
            reply::error(out, INVALID_NAME);
            return Flow::Reply;
        }
        c.session.name = (!args[2].is_empty()).then(|| args[2].to_vec());
        reply::simple(out, b"OK");
    } else if sub.eq_ignore_ascii_case(b"GETNAME") && args.len() == 2 {
        match &c.session.name {
            Some(name) => reply::bulk(out, name),
            None => reply::nil(out, c.session.protocol),
        }
    } else if sub.eq_ignore_ascii_case(b"SETINFO") && args.len() == 4 {
        reply::simple(out, b"OK");
    } else if sub.eq_ignore_ascii_case(b"ID") && args.len() == 2 {
        reply::integer(out, c.session.id as i64);
    } else {
        let text = format!(
            "ERR unknown subcommand or wrong number of arguments for 'CLIENT|{}'",
            printable(sub)
        );
        reply::error(out, text.as_bytes());
    }
    Flow::Reply
}
