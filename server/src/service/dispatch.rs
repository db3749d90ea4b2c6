//! Executing RESP commands on the shared keyspace, on the shard that received them; only INFO waits for the
//! other shards (their metrics). Replies are collected in request order.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use pincore_resp::reply;

use super::info;
use crate::command::Command;
use crate::kv;
use crate::mesh::{Op, Outcome, Ticket};
use crate::shard::Shard;
use crate::store::{SetCondition, SetTtl};

/// Per-connection state that commands can change.
#[derive(Default)]
pub struct Connection {
    pub name: Option<Vec<u8>>,
}

/// What [`dispatch`] did with a command.
pub enum Dispatched {
    /// The reply is in the output buffer.
    Written,
    /// The reply depends on other shards.
    Later(Pending),
    /// The reply is written and the connection closes after it (QUIT).
    Close,
}

/// A reply that waits for other shards.
pub enum Pending {
    /// INFO: every shard's snapshot, rendered for the requested sections.
    Info {
        sections: Vec<String>,
        tickets: Vec<Ticket>,
    },
}

/// A reply slot in request order.
pub struct Queued {
    command: Command,
    started: Instant,
    reply: Result<Vec<u8>, Pending>,
}

impl Queued {
    pub fn ready(command: Command, started: Instant, bytes: Vec<u8>) -> Queued {
        Queued {
            command,
            started,
            reply: Ok(bytes),
        }
    }
    pub fn pending(command: Command, started: Instant, pending: Pending) -> Queued {
        Queued {
            command,
            started,
            reply: Err(pending),
        }
    }
}

const UNAVAILABLE: &[u8] = b"ERR a shard is unavailable (the server is shutting down)";

fn wrong_arity(out: &mut Vec<u8>, command: Command) {
    reply::error(
        out,
        format!(
            "ERR wrong number of arguments for '{}' command",
            command.name()
        )
        .as_bytes(),
    );
}

fn unknown(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        printable(args[0])
    );
    for arg in args.iter().skip(1).take(8) {
        text.push_str(&format!("'{}' ", printable(arg)));
    }
    reply::error(out, text.as_bytes());
}

/// At most 128 bytes of client input, lossily as text (CR/LF are made safe by the encoder).
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(128)]).into_owned()
}

/// Executes or routes one command received at `now`. Local replies are appended to `out`.
pub async fn dispatch(
    shard: &Rc<Shard>,
    conn: &mut Connection,
    command: Command,
    args: &[&[u8]],
    now: Instant,
    out: &mut Vec<u8>,
) -> Dispatched {
    if command == Command::Unknown {
        shard.metrics.error("unknown_command");
        unknown(out, args);
        return Dispatched::Written;
    }
    if !command.arity_ok(args.len()) || (command == Command::Ping && args.len() > 2) {
        shard.metrics.error("wrong_arity");
        wrong_arity(out, command);
        return Dispatched::Written;
    }
    match command {
        Command::Ping => match args.get(1) {
            Some(message) => reply::bulk(out, message),
            None => reply::simple(out, b"PONG"),
        },
        Command::Echo => reply::bulk(out, args[1]),
        Command::Get
        | Command::Set
        | Command::Incr
        | Command::IncrBy
        | Command::Decr
        | Command::Expire
        | Command::Ttl => {
            kv::execute(&mut shard.keyspace().lock(args[1]), command, args, now, out);
        }
        Command::Del | Command::Exists => {
            let keys = &args[1..];
            let mut locked = shard.keyspace().lock_keys(keys.iter().copied());
            let found = keys
                .iter()
                .filter(|k| {
                    let store = locked.store(k);
                    if command == Command::Del {
                        store.delete(k, now)
                    } else {
                        store.exists(k, now)
                    }
                })
                .count();
            reply::integer(out, found as i64);
        }
        Command::MGet => {
            let keys = &args[1..];
            let mut locked = shard.keyspace().lock_keys(keys.iter().copied());
            reply::array(out, keys.len());
            for k in keys {
                match locked.store(k).get(k, now) {
                    Some(v) => reply::bulk(out, v),
                    None => reply::null(out),
                }
            }
        }
        Command::MSet => {
            if args.len().is_multiple_of(2) {
                shard.metrics.error("wrong_arity");
                wrong_arity(out, command);
                return Dispatched::Written;
            }
            let pairs = args[1..].chunks_exact(2);
            let mut locked = shard.keyspace().lock_keys(pairs.clone().map(|p| p[0]));
            for pair in pairs {
                locked.store(pair[0]).set(
                    pair[0],
                    pair[1],
                    SetCondition::Always,
                    SetTtl::Clear,
                    now,
                    false,
                );
            }
            reply::simple(out, b"OK");
        }
        Command::DbSize => reply::integer(out, shard.keyspace().len() as i64),
        Command::FlushAll => {
            if let Some(mode) = args.get(1) {
                if args.len() > 2
                    || !(mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC"))
                {
                    reply::error(out, b"ERR syntax error");
                    return Dispatched::Written;
                }
            }
            shard.keyspace().flush();
            reply::simple(out, b"OK");
        }
        Command::Info => {
            let sections = args[1..]
                .iter()
                .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
                .collect();
            let tickets = shard.broadcast(|| Op::Snapshot).await;
            return Dispatched::Later(Pending::Info { sections, tickets });
        }
        Command::Config => config_command(args, out),
        Command::Command => command_command(args, out),
        Command::Quit => {
            reply::simple(out, b"OK");
            return Dispatched::Close;
        }
        Command::Client => client_command(conn, args, out),
        Command::Select => {
            if args[1] == b"0" {
                reply::simple(out, b"OK");
            } else {
                reply::error(out, b"ERR DB index is out of range");
            }
        }
        Command::Unknown => unknown(out, args),
    }
    Dispatched::Written
}

/// Waits for queued replies in order and appends them to `out`, recording each command's latency.
pub async fn resolve(shard: &Rc<Shard>, queue: &mut VecDeque<Queued>, out: &mut Vec<u8>) {
    while let Some(Queued {
        command,
        started,
        reply,
    }) = queue.pop_front()
    {
        match reply {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(pending) => gather(shard, pending, out).await,
        }
        shard.metrics.command(command, started.elapsed());
    }
}

async fn gather(shard: &Rc<Shard>, pending: Pending, out: &mut Vec<u8>) {
    match pending {
        Pending::Info { sections, tickets } => {
            let mut snapshots = Vec::with_capacity(tickets.len());
            for ticket in tickets {
                match ticket.await {
                    Outcome::Snapshot(s) => snapshots.push(*s),
                    _ => return unavailable(shard, out),
                }
            }
            let text = info::render(shard, &sections, &snapshots);
            reply::bulk(out, text.as_bytes());
        }
    }
}

fn unavailable(shard: &Shard, out: &mut Vec<u8>) {
    shard.metrics.error("shard_unavailable");
    reply::error(out, UNAVAILABLE);
}

/// CONFIG GET, enough for redis-benchmark's start-up probe (`save`, `appendonly`) and tools that ask about
/// persistence or memory: this server keeps data in memory only.
fn config_command(args: &[&[u8]], out: &mut Vec<u8>) {
    const PARAMETERS: [(&str, &str); 4] = [
        ("save", ""),
        ("appendonly", "no"),
        ("maxmemory", "0"),
        ("databases", "1"),
    ];
    if !args[1].eq_ignore_ascii_case(b"GET") {
        let text = format!(
            "ERR unknown subcommand '{}'. This server supports CONFIG GET only.",
            printable(args[1])
        );
        return reply::error(out, text.as_bytes());
    }
    if args.len() < 3 {
        return wrong_arity(out, Command::Config);
    }
    let mut found = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in PARAMETERS {
            if (pattern == b"*" || name.as_bytes().eq_ignore_ascii_case(pattern))
                && !found.iter().any(|(n, _)| *n == name)
            {
                found.push((name, value));
            }
        }
    }
    reply::array(out, found.len() * 2);
    for (name, value) in found {
        reply::bulk(out, name.as_bytes());
        reply::bulk(out, value.as_bytes());
    }
}

/// COMMAND: an empty command table (redis-cli only needs a well-formed reply), COUNT and DOCS.
fn command_command(args: &[&[u8]], out: &mut Vec<u8>) {
    match args.get(1) {
        Some(sub) if sub.eq_ignore_ascii_case(b"COUNT") => {
            reply::integer(out, (Command::COUNT - 1) as i64)
        }
        Some(sub) if sub.eq_ignore_ascii_case(b"DOCS") || sub.eq_ignore_ascii_case(b"INFO") => {
            reply::array(out, 0)
        }
        None => reply::array(out, 0),
        Some(sub) => {
            let text = format!(
                "ERR unknown subcommand '{}'. Try COMMAND COUNT, DOCS or INFO.",
                printable(sub)
            );
            reply::error(out, text.as_bytes());
        }
    }
}

fn client_command(conn: &mut Connection, args: &[&[u8]], out: &mut Vec<u8>) {
    let sub = args[1];
    if sub.eq_ignore_ascii_case(b"SETNAME") && args.len() == 3 {
        if args[2].iter().any(|&b| b <= b' ' || b > b'~') {
            return reply::error(
                out,
                b"ERR Client names cannot contain spaces, newlines or special characters.",
            );
        }
        conn.name = (!args[2].is_empty()).then(|| args[2].to_vec());
        reply::simple(out, b"OK");
    } else if sub.eq_ignore_ascii_case(b"GETNAME") && args.len() == 2 {
        match &conn.name {
            Some(name) => reply::bulk(out, name),
            None => reply::null(out),
        }
    } else if sub.eq_ignore_ascii_case(b"SETINFO") && args.len() == 4 {
        reply::simple(out, b"OK");
    } else {
        let text = format!(
            "ERR unknown subcommand or wrong number of arguments for 'CLIENT|{}'",
            printable(sub)
        );
        reply::error(out, text.as_bytes());
    }
}
