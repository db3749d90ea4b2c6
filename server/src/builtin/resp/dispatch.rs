//! Running RESP commands from the table on the shard that received them. A command that needs the other
//! shards (INFO's metrics, CLIENT LIST's connections) or must not hold this one (KEYS) leaves a
//! [`Pending`] reply, awaited in its turn; replies are collected in request order.

use std::collections::VecDeque;
use std::time::Instant;

use pincore_resp::reply;

use super::commands::{flag, printable, Call, Deferred, Flow, ReplyMode, Run, Session, COMMANDS};
use super::keyspace::OOM;
use super::Resp;
use crate::framework::{ShardSnapshot, Unavailable};

/// What [`dispatch`] did with a command.
pub enum Dispatched {
    /// The reply is in the output buffer.
    Written,
    /// The reply depends on other shards.
    Later(Pending),
    /// The reply is written and the connection closes after it (QUIT).
    Close,
}

/// A reply that waits: for every shard's metrics (INFO), or for a command's own [`Deferred`] work.
pub enum Pending {
    Snapshots {
        command: usize,
        arguments: Vec<String>,
        protocol: reply::Protocol,
        snapshots: std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Vec<ShardSnapshot>, Unavailable>>>,
        >,
    },
    Deferred(Deferred),
    /// The reply is made and then dropped (CLIENT REPLY OFF or SKIP).
    Silent(Box<Pending>),
}

/// A reply slot in request order.
pub struct Queued {
    command: usize,
    started: Instant,
    reply: Result<Vec<u8>, Pending>,
}

impl Queued {
    pub fn ready(command: usize, started: Instant, bytes: Vec<u8>) -> Queued {
        Queued {
            command,
            started,
            reply: Ok(bytes),
        }
    }
    pub fn pending(command: usize, started: Instant, pending: Pending) -> Queued {
        Queued {
            command,
            started,
            reply: Err(pending),
        }
    }
}

const UNAVAILABLE: &[u8] = b"ERR a shard is unavailable (the server is shutting down)";

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

/// Runs the command at table row `command` (or [`super::commands::UNKNOWN`]) received at `now`. Local replies are appended
/// to `out`. After CLIENT REPLY OFF every reply is dropped (errors too, as in Redis), after SKIP the next one.
pub fn dispatch(
    resp: &Resp,
    session: &mut Session,
    command: usize,
    args: &[&[u8]],
    now: Instant,
    out: &mut Vec<u8>,
) -> Dispatched {
    let (before, mark) = (session.reply, out.len());
    let dispatched = 'run: {
        let Some(spec) = COMMANDS.get(command) else {
            resp.ctx.error("unknown_command");
            unknown(out, args);
            break 'run Dispatched::Written;
        };
        if !session.authenticated && !matches!(spec.name, "auth" | "hello" | "ping" | "quit") {
            resp.ctx.error("noauth");
            reply::error(out, b"NOAUTH Authentication required.");
            break 'run Dispatched::Written;
        }
        if !spec.arity_ok(args.len()) {
            resp.ctx.error("wrong_arity");
            reply::error(
                out,
                format!("ERR wrong number of arguments for '{}' command", spec.name).as_bytes(),
            );
            break 'run Dispatched::Written;
        }
        if spec.flags & flag::DENYOOM != 0 && !resp.make_room(now) {
            reply::error(out, OOM);
            break 'run Dispatched::Written;
        }
        session.client.last_command.set(spec.name);
        match spec.run {
            Run::Here(run) => {
                let mut call = Call {
                    resp,
                    session: &mut *session,
                    args,
                    now,
                    out: &mut *out,
                    later: None,
                };
                let flow = run(&mut call);
                match (call.later, flow) {
                    (Some(later), _) => Dispatched::Later(Pending::Deferred(later)),
                    (None, Flow::Reply) => Dispatched::Written,
                    (None, Flow::Close) => Dispatched::Close,
                }
            }
            Run::EveryShard { prepare, .. } => {
                let ctx = resp.ctx.clone();
                Dispatched::Later(Pending::Snapshots {
                    command,
                    arguments: prepare(args),
                    protocol: session.protocol,
                    snapshots: Box::pin(async move { ctx.snapshots().await }),
                })
            }
        }
    };
    // CLIENT REPLY ON, run while replies were off or skipped, is answered; a skip is used up by one command.
    if session.reply == ReplyMode::On {
        return dispatched;
    }
    if before == ReplyMode::SkipNext && session.reply == ReplyMode::SkipNext {
        session.reply = ReplyMode::On;
    }
    out.truncate(mark);
    match dispatched {
        Dispatched::Later(pending) => Dispatched::Later(Pending::Silent(Box::new(pending))),
        other => other,
    }
}

/// Waits for queued replies in order and appends them to `out`, recording each command's latency.
pub async fn resolve(resp: &Resp, queue: &mut VecDeque<Queued>, out: &mut Vec<u8>) {
    while let Some(Queued {
        command,
        started,
        reply,
    }) = queue.pop_front()
    {
        match reply {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(pending) => gather(resp, pending, out).await,
        }
        resp.record(command, started.elapsed());
    }
}

async fn gather(resp: &Resp, pending: Pending, out: &mut Vec<u8>) {
    match pending {
        Pending::Snapshots {
            command,
            arguments,
            protocol,
            snapshots,
        } => {
            let Some(Run::EveryShard { render, .. }) = COMMANDS.get(command).map(|s| s.run) else {
                return;
            };
            match snapshots.await {
                Ok(snapshots) => render(resp, &arguments, &snapshots, protocol, out),
                Err(Unavailable) => {
                    resp.ctx.error("shard_unavailable");
                    reply::error(out, UNAVAILABLE);
                }
            }
        }
        Pending::Deferred(later) => out.extend_from_slice(&later.await),
        Pending::Silent(pending) => {
            let mut dropped = Vec::new();
            Box::pin(gather(resp, *pending, &mut dropped)).await;
        }
    }
}
