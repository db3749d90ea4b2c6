//! Running RESP commands from the table on the shard that received them, or queueing them between MULTI
//! and EXEC. A command that needs the other shards (INFO's metrics, CLIENT LIST's connections) or must not
//! hold this one (KEYS) leaves a [`Pending`] reply, awaited in its turn; replies are collected in request
//! order.

use std::collections::VecDeque;
use std::time::Instant;

use pincore_resp::reply;

use super::commands::{
    flag, printable, Call, Deferred, Flow, ReplyMode, Run, Session, Spec, COMMANDS,
};
use super::keyspace::{Parts, OOM};
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
    /// The command was queued (or refused) between MULTI and EXEC: it is counted when EXEC runs it.
    Queued,
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
    /// The table row to count the command under; `None` for a command queued by MULTI (counted at EXEC).
    command: Option<usize>,
    started: Instant,
    reply: Result<Vec<u8>, Pending>,
}

impl Queued {
    pub fn ready(command: usize, started: Instant, bytes: Vec<u8>) -> Queued {
        Queued {
            command: Some(command),
            started,
            reply: Ok(bytes),
        }
    }
    /// The reply to a command queued between MULTI and EXEC.
    pub fn uncounted(started: Instant, bytes: Vec<u8>) -> Queued {
        Queued {
            command: None,
            started,
            reply: Ok(bytes),
        }
    }
    pub fn pending(command: usize, started: Instant, pending: Pending) -> Queued {
        Queued {
            command: Some(command),
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

/// What a subscribed RESP2 connection may run: its replies are read as messages, so nothing else.
fn subscribed_may_run(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
    )
}

/// A command's name as Redis prints it in errors: `config|get` for a subcommand of a container command.
fn full_name(spec: &Spec, args: &[&[u8]]) -> String {
    let container = matches!(
        spec.name,
        "config" | "client" | "acl" | "pubsub" | "command"
    );
    match args.get(1) {
        Some(sub) if container => {
            format!("{}|{}", spec.name, printable(sub).to_ascii_lowercase())
        }
        _ => spec.name.to_string(),
    }
}

/// Runs the command at table row `command` (or [`super::commands::UNKNOWN`]) received at `now`. Local replies are appended
/// to `out`. Between MULTI and EXEC, commands are checked as Redis checks them and queued (see [`queue`]).
/// After CLIENT REPLY OFF every reply is dropped (errors too, as in Redis), after SKIP the next one.
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
            session.refused();
            unknown(out, args);
            break 'run Dispatched::Written;
        };
        if !session.authenticated
            && !matches!(spec.name, "auth" | "hello" | "ping" | "quit" | "reset")
        {
            resp.ctx.error("noauth");
            refuse(
                resp,
                session,
                spec,
                command,
                out,
                b"NOAUTH Authentication required.",
            );
            break 'run Dispatched::Written;
        }
        if !spec.arity_ok(args.len()) {
            resp.ctx.error("wrong_arity");
            let text = format!("ERR wrong number of arguments for '{}' command", spec.name);
            refuse(resp, session, spec, command, out, text.as_bytes());
            break 'run Dispatched::Written;
        }
        if session.authenticated {
            if let Err(denied) = permitted(resp, session, spec, command, args) {
                let Some(denied) = denied else {
                    // The user was deleted (ACL DELUSER): the connection closes, as Redis closes it.
                    break 'run Dispatched::Close;
                };
                resp.ctx.error("noperm");
                refuse(resp, session, spec, command, out, &denied);
                break 'run Dispatched::Written;
            }
        }
        if session.protocol == reply::Protocol::Resp2
            && session.subscribed()
            && !subscribed_may_run(spec)
        {
            resp.ctx.error("subscribed_context");
            let text = format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                full_name(spec, args)
            );
            refuse(resp, session, spec, command, out, text.as_bytes());
            break 'run Dispatched::Written;
        }
        if session.transaction.is_some() && !runs_in_multi(spec) {
            queue(resp, session, spec, command, args, now, out);
            break 'run Dispatched::Queued;
        }
        if spec.flags & flag::WRITE != 0 && resp.keyspace.feed.refuses_writes() {
            resp.count_rejected(command);
            reply::error(out, super::feed::NOREPLICAS);
            break 'run Dispatched::Written;
        }
        if spec.flags & flag::DENYOOM != 0 && !resp.make_room(now) {
            resp.count_rejected(command);
            reply::error(out, OOM);
            break 'run Dispatched::Written;
        }
        session.client.last_command.set(spec.name);
        match spec.run {
            Run::Here(run) => {
                // Only a tracking connection's writes need to know who wrote (NOLOOP).
                let writer = session.tracking.as_ref().map(|_| session.id);
                let mut call = Call {
                    resp,
                    session: &mut *session,
                    args,
                    now,
                    out: &mut *out,
                    parts: Parts::Lock(&resp.keyspace),
                    later: None,
                };
                // With a replica attached, a write holds its parts until its propagation is appended.
                let propagated = spec.flags & flag::WRITE != 0
                    && resp.keyspace.feed.active()
                    && !super::blocking::PROPAGATE_THEMSELVES.contains(&spec.name);
                let mut go = || {
                    if propagated {
                        super::commands::transactions::run_propagated(&mut call, run, command)
                    } else {
                        run(&mut call)
                    }
                };
                let flow = match writer {
                    None => go(),
                    Some(id) => super::tracking::as_writer(id, go),
                };
                if call.session.tracking.is_some() {
                    tracked(resp, call.session, spec, args);
                }
                if spec.flags & flag::WRITE != 0 {
                    resp.saves.changed(resp.ctx.shard_id());
                }
                super::monitor::feed(&resp.pubsub, &call.session.client, spec, args);
                super::notify::after(&resp.pubsub, spec.name, args, &call.out[mark..]);
                match (call.later, flow) {
                    (Some(later), _) => Dispatched::Later(Pending::Deferred(later)),
                    (None, Flow::Reply) => Dispatched::Written,
                    (None, Flow::Close) => Dispatched::Close,
                }
            }
            Run::EveryShard { prepare, .. } => {
                super::monitor::feed(&resp.pubsub, &session.client, spec, args);
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
    // (P)SUBSCRIBE's and (P)UNSUBSCRIBE's confirmations (push messages in RESP3) are sent whatever CLIENT
    // REPLY says, in RESP2 too, as Redis 7.0 sends them and published messages.
    let pushes = COMMANDS.get(command).is_some_and(|s| {
        matches!(
            s.name,
            "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe"
        )
    });
    if pushes {
        return dispatched;
    }
    out.truncate(mark);
    match dispatched {
        Dispatched::Later(pending) => Dispatched::Later(Pending::Silent(Box::new(pending))),
        other => other,
    }
}

/// After a tracking connection's command: the keys of a read-only one are remembered (as CLIENT CACHING
/// and the OPTIN/OPTOUT mode say), and CLIENT CACHING's answer is used up unless a transaction is open or
/// the command was CLIENT itself, as in Redis.
fn tracked(resp: &Resp, session: &mut Session, spec: &Spec, args: &[&[u8]]) {
    remember_read(resp, session, spec, args);
    if session.transaction.is_none() && spec.name != "client" {
        session.caching = false;
    }
}

/// Remembers the keys of a read-only command run by a tracking connection (also for each command EXEC runs).
fn remember_read(resp: &Resp, session: &Session, spec: &Spec, args: &[&[u8]]) {
    let keys: Vec<&[u8]> = spec.keys_of(args).collect();
    super::commands::remember_keys(resp, session, spec, &keys);
}

/// Whether the connection's user may run this command (see [`super::acl`]): its cached rules are read
/// again when the users' table changed; a user with every right checks nothing more. `Err(None)`: the user
/// no longer exists.
#[inline]
fn permitted(
    resp: &Resp,
    session: &mut Session,
    spec: &Spec,
    command: usize,
    args: &[&[u8]],
) -> Result<(), Option<Vec<u8>>> {
    let version = resp.acl.version();
    if version != session.acl_version {
        let user = resp.acl.user(&session.client.user_name()).ok_or(None)?;
        session.acl = if user.unrestricted() {
            None
        } else {
            Some(user as std::sync::Arc<dyn super::commands::Rules>)
        };
        session.acl_version = version;
    }
    match &session.acl {
        None => Ok(()),
        Some(rules) => rules
            .check(command, spec, &full_name(spec, args), args)
            .map_err(Some),
    }
}

/// The commands that run at once between MULTI and EXEC, as Redis's `processCommand` lists them.
fn runs_in_multi(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// A command refused before it ran: in a transaction that aborts it (Redis's `rejectCommand`); a refused
/// EXEC ends the transaction and says why.
fn refuse(
    resp: &Resp,
    session: &mut Session,
    spec: &Spec,
    command: usize,
    out: &mut Vec<u8>,
    message: &[u8],
) {
    session.refused();
    resp.count_rejected(command);
    if spec.name == "exec" {
        session.end_transaction(&mut Parts::Lock(&resp.keyspace));
        let why = message.strip_prefix(b"ERR ").unwrap_or(message);
        reply::error(
            out,
            &[&b"EXECABORT Transaction discarded because of: "[..], why].concat(),
        );
    } else {
        reply::error(out, message);
    }
}

/// Why a command cannot be queued, if it cannot: EXEC runs its queue under keyspace locks, which are never
/// held across an await, so INFO (which waits for every shard's metrics) cannot run there. The blocking pops
/// are queued and run there without blocking, as in Redis (see `commands/blocking.rs`). Commands that defer their reply (CONFIG SET and RESETSTAT, CLIENT LIST and KILL, KEYS, DEBUG SLEEP)
/// are queued: EXEC finishes them once it has released its locks. SAVE and DEBUG RELOAD, which wait for a whole
/// snapshot, are refused as well.
fn not_in_transaction(spec: &Spec, args: &[&[u8]]) -> Option<&'static str> {
    match spec.name {
        _ if matches!(spec.run, Run::EveryShard { .. }) => Some("waits for every shard"),
        "debug"
            if args
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"reload")) =>
        {
            Some("waits for the snapshot to be written and loaded")
        }
        "debug"
            if args
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"loadaof")) =>
        {
            Some("empties the keyspace and loads the append-only file")
        }
        "save" => Some("waits for the snapshot to be written (BGSAVE runs inside MULTI)"),
        "monitor" => Some("streams every command to this connection"),
        "shutdown" => Some("stops the server"),
        _ => None,
    }
}

/// Queues a command between MULTI and EXEC: `+QUEUED`, or an error that aborts the transaction. A command
/// that waits on other shards (INFO) is refused: EXEC runs its queue under keyspace locks, which are never
/// held across an await. When memory is over `maxmemory`, every command is refused, as in Redis.
fn queue(
    resp: &Resp,
    session: &mut Session,
    spec: &Spec,
    command: usize,
    args: &[&[u8]],
    now: Instant,
    out: &mut Vec<u8>,
) {
    if let Some(why) = not_in_transaction(spec, args) {
        resp.ctx.error("not_in_transaction");
        let text = format!(
            "ERR Command not allowed inside a transaction: {} {why}, run it outside MULTI",
            full_name(spec, args).to_ascii_uppercase().replace('|', " ")
        );
        return refuse(resp, session, spec, command, out, text.as_bytes());
    }
    if !resp.make_room(now) {
        return refuse(resp, session, spec, command, out, OOM);
    }
    let limits = &resp.ctx.config().limits;
    let bounds = (limits.max_array_len, limits.max_request_bytes);
    let Some(transaction) = &mut session.transaction else {
        return;
    };
    match transaction.push(command, args, bounds) {
        Ok(()) => reply::simple(out, b"QUEUED"),
        Err(message) => {
            resp.ctx.error("transaction_too_large");
            reply::error(out, message);
        }
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
        if let Some(command) = command {
            resp.record(command, started.elapsed());
        }
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
        Pending::Deferred(later) => {
            out.extend_from_slice(&later.await);
            // Keys a deferred command wrote (MIGRATE's deletions) reach BCAST connections now.
            if resp.pubsub.raw_events() & super::tracking::TRACKING != 0 {
                resp.pubsub.tracking.broadcast(resp.pubsub.limit());
            }
        }
        Pending::Silent(pending) => {
            let mut dropped = Vec::new();
            Box::pin(gather(resp, *pending, &mut dropped)).await;
        }
    }
}
