//! The RESP connection: a bounded read buffer, every complete command parsed per read (pipelining), replies
//! written in one write, timeouts for idle clients and for requests that never complete (slowloris), kept by
//! one watchdog per connection ([`ReadDeadline`]) rather than a timer per read. A subscribed connection also
//! waits for its mailbox ([`Mailbox`]): published messages are written as they arrive, and before the reply
//! of each command, so replies and messages keep the order they happened in.

use std::collections::VecDeque;
use std::time::Instant;

use std::os::fd::AsRawFd;

use futures_lite::AsyncReadExt;
use pincore_resp::{reply, CommandParser, Limits};

use super::blocking::Blocked;
use super::commands::{self, Session};
use super::dispatch::{self, Dispatched, Queued};
use super::keyspace::Parts;
use super::pubsub::Mailbox;
use super::watchers::Unblock;
use super::Resp;
use crate::framework::Connection;

const INITIAL_BUFFER: usize = 16 * 1024;
/// Replies are written out once this much is pending, so a pipeline of large GETs cannot grow memory without
/// bound.
const FLUSH_AT: usize = 256 * 1024;
/// Requests to other shards in flight per connection before their replies are collected.
const MAX_QUEUED: usize = 512;
/// The read deadline of a subscribed connection between requests: in effect none (Redis closes no
/// subscriber for idleness), yet a plain instant a timer can sleep until.
const SUBSCRIBED_IDLE: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// A connection's share of its shard's read-buffer budget.
struct Lease<'a> {
    budget: &'a std::cell::Cell<usize>,
    bytes: usize,
}

impl Lease<'_> {
    /// Takes `more` bytes if the shard stays within `limit`.
    fn grow(&mut self, more: usize, limit: usize) -> bool {
        let used = self.budget.get();
        if used + more > limit {
            return false;
        }
        self.budget.set(used + more);
        self.bytes += more;
        true
    }

    fn release_all(&mut self) {
        self.budget.set(self.budget.get() - self.bytes);
        self.bytes = 0;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// A connection's session, whose transaction and watches end with it, however it ends (a panic included):
/// a closed connection leaves no registration in the keyspace.
struct Ending<'a> {
    resp: &'a Resp,
    session: Session,
}

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        self.session
            .end_transaction(&mut Parts::Lock(&self.resp.keyspace));
    }
}

/// Waits for a blocking pop (see [`super::blocking`]) once the replies before it are sent: its reply (an
/// element, or the timeout's null) is appended to `out`. Meanwhile the socket is watched: false if the client hung up, its places given up.
async fn wait_blocked(
    resp: &Resp,
    conn: &mut Connection<Resp>,
    blocked: Blocked,
    protocol: reply::Protocol,
    queue: &mut VecDeque<Queued>,
    out: &mut Vec<u8>,
) -> bool {
    let keyspace = &resp.keyspace;
    // Earlier replies go out first.
    dispatch::resolve(resp, queue, out).await;
    if !out.is_empty() {
        if conn
            .write(out, resp.ctx.config().timeouts.idle())
            .await
            .is_err()
        {
            blocked.finish(keyspace);
            return false;
        }
        out.clear();
    }
    // Once the client has sent more (a pipeline), a peek returns at once: from then on only the clock.
    let mut watch_socket = true;
    loop {
        let now = Instant::now();
        match blocked.bell.unblocked() {
            Some(Unblock::Timeout) => {
                blocked.timed_out(protocol, out);
                break;
            }
            Some(Unblock::Error) => {
                reply::error(out, b"UNBLOCKED client unblocked via CLIENT UNBLOCK");
                break;
            }
            None => {}
        }
        if blocked.try_serve(&resp.keyspace, &resp.pubsub, protocol, now, out) {
            break;
        }
        // A draining server answers as if the timeout passed, so the client is not cut off mid-command.
        if blocked.deadline.is_some_and(|at| at <= now) || resp.ctx.draining() {
            blocked.timed_out(protocol, out);
            break;
        }
        let stream = conn.stream();
        let mut byte = [0u8; 1];
        // Woken by the bell (a key changed, or this client's turn came), the deadline, draining, or the socket.
        let woken = futures_lite::future::or(blocked.bell.rung(), async {
            match blocked.deadline {
                Some(at) => glommio::timer::sleep(at.saturating_duration_since(now)).await,
                None => futures_lite::future::pending().await,
            }
        });
        let woken = futures_lite::future::or(woken, resp.ctx.drained());
        let peeked = futures_lite::future::or(
            async {
                woken.await;
                None
            },
            async {
                if watch_socket {
                    Some(stream.peek(&mut byte).await)
                } else {
                    futures_lite::future::pending().await
                }
            },
        )
        .await;
        match peeked {
            None => {}
            Some(Ok(0) | Err(_)) => {
                blocked.finish(keyspace);
                return false;
            }
            Some(Ok(_)) => watch_socket = false,
        }
    }
    blocked.finish(keyspace);
    true
}

pub async fn serve(resp: &Resp, mut conn: Connection<Resp>) {
    let ctx = conn.context().clone();
    let mut buf = vec![0u8; INITIAL_BUFFER.min(ctx.config().limits.max_request_bytes)];
    // What this connection's buffer holds beyond its first 16 KiB, counted against the shard's budget and
    // given back however the connection ends.
    let mut lease = Lease {
        budget: &resp.read_buffers,
        bytes: 0,
    };
    let mut filled = 0;
    let mut out = Vec::with_capacity(INITIAL_BUFFER);
    // Resumes a command that arrives over several reads instead of rescanning it: the incomplete tail is
    // always moved to the front of `buf`, so each call sees the same command start with more bytes.
    let mut parser = CommandParser::new();
    let mut ending = Ending {
        resp,
        session: Session::for_connection(conn.stream().as_raw_fd()),
    };
    let session = &mut ending.session;
    let _registered = resp.clients.register(session.client.clone());
    let _listed = super::tracking::Listed::new(&resp.pubsub.tracking, session.id);
    // Decided once per connection, so the check costs nothing per command. As in Redis, a connection made
    // while the service was open stays authenticated when SIGHUP adds users.
    session.authenticated = !resp.needs_auth();
    let deadline = conn.read_deadline(Instant::now() + ctx.config().timeouts.idle());
    // When the oldest incomplete request's first bytes arrived.
    let mut request_started: Option<Instant> = None;
    // Commands of one read answered at once, whose latency is recorded when the read's commands are done.
    let mut served: Vec<usize> = Vec::new();
    loop {
        let config = ctx.config();
        let limits = Limits {
            max_bulk_len: config.limits.max_bulk_len,
            max_array_len: config.limits.max_array_len,
            max_inline_len: config.limits.max_inline_len,
        };
        if filled == buf.len() {
            if buf.len() >= config.limits.max_request_bytes {
                ctx.error("request_too_large");
                out.clear();
                reply::error(
                    &mut out,
                    b"ERR request larger than limits.max_request_bytes; closing",
                );
                let _ = conn.write(&out, config.timeouts.idle()).await;
                break;
            }
            let grown = (buf.len() * 2).min(config.limits.max_request_bytes);
            if !lease.grow(
                grown - buf.len(),
                config.limits.max_read_buffer_bytes_per_shard,
            ) {
                ctx.error("read_buffers_full");
                out.clear();
                reply::error(
                    &mut out,
                    b"ERR the shard's read buffers are full (limits.max_read_buffer_bytes_per_shard); closing",
                );
                let _ = conn.write(&out, config.timeouts.idle()).await;
                break;
            }
            buf.resize(grown, 0);
        }
        let now = Instant::now();
        match request_started {
            Some(started) => deadline.set(started + config.timeouts.request()),
            // As in Redis, a subscriber waiting for messages is not idle.
            None if session.listening() => deadline.set(now + SUBSCRIBED_IDLE),
            None => deadline.set(now + config.timeouts.idle()),
        }
        let read = match session.mailbox() {
            None => conn.stream().read(&mut buf[filled..]).await,
            Some(mailbox) => {
                // A read dropped here loses nothing: glommio keeps the readiness poll in the stream.
                let woke = futures_lite::future::or(
                    async { Some(conn.stream().read(&mut buf[filled..]).await) },
                    async {
                        mailbox.arrival().await;
                        None
                    },
                )
                .await;
                match woke {
                    Some(read) => read,
                    None => {
                        if !take_mail(session, &mut out, &conn)
                            || send(&mut conn, &mut out, Some(mailbox), config.timeouts.idle())
                                .await
                                .is_err()
                        {
                            break;
                        }
                        // Publishers on other shards may keep the mailbox full: let this shard's other
                        // connections run.
                        glommio::yield_if_needed().await;
                        continue;
                    }
                }
            }
        };
        if deadline.expired() {
            if request_started.is_some() {
                ctx.error("request_timeout");
                out.clear();
                reply::error(
                    &mut out,
                    b"ERR request not completed within timeouts.request_ms; closing",
                );
                let _ = conn.write(&out, config.timeouts.idle()).await;
            } else {
                ctx.error("idle_timeout");
            }
            break;
        }
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(shard = ctx.shard_id(), error = %e, "read failed; closing the connection");
                break;
            }
        };
        let read_at = Instant::now();
        deadline.park(read_at);
        session.client.last_active.set(read_at);
        filled += n;
        conn.count_in(n);
        session
            .client
            .query_buffer
            .set((filled, buf.len() - filled));

        let mut pos = 0;
        let mut close = false;
        let mut queue: VecDeque<Queued> = VecDeque::new();
        let mut argv: Vec<&[u8]> = Vec::new();
        // A connection that killed itself (CLIENT KILL ... SKIPME no) runs nothing after that command.
        while pos < filled && !close && !session.client.close_after_reply.get() {
            match parser.parse(&buf[pos..filled], &limits) {
                Ok(None) => break,
                Ok(Some(consumed)) => {
                    let input = &buf[pos..pos + consumed];
                    pos += consumed;
                    if parser.args().is_empty() {
                        continue; // an empty inline line
                    }
                    argv.clear();
                    argv.extend(parser.args().iter().map(|r| &input[r.clone()]));
                    // Every command of one read starts when the read completed: one clock read per read,
                    // not two per command.
                    let started = read_at;
                    let command = commands::lookup(argv[0]);
                    if queue.is_empty() {
                        if !take_mail(session, &mut out, &conn) {
                            return;
                        }
                        let mark = out.len();
                        let outcome =
                            dispatch::dispatch(resp, session, command, &argv, started, &mut out);
                        // A reply past the limit is dropped before anything of it is sent: the client gets
                        // an error instead, and the connection closes (as Redis's output-buffer limit does).
                        if out.len() - mark > config.limits.max_reply_bytes {
                            out.truncate(mark);
                            out.shrink_to(FLUSH_AT);
                            ctx.error("reply_too_large");
                            reply::error(
                                &mut out,
                                b"ERR reply larger than limits.max_reply_bytes; closing",
                            );
                            served.push(command);
                            close = true;
                            continue;
                        }
                        match outcome {
                            Dispatched::Written => served.push(command),
                            Dispatched::Queued => {}
                            Dispatched::Later(pending) => {
                                queue.push_back(Queued::pending(command, started, pending))
                            }
                            Dispatched::Close => {
                                served.push(command);
                                close = true;
                            }
                        }
                    } else {
                        let mut local = Vec::new();
                        if !take_mail(session, &mut local, &conn) {
                            return;
                        }
                        let outcome =
                            dispatch::dispatch(resp, session, command, &argv, started, &mut local);
                        // The same bound as above, for a reply queued behind one from other shards.
                        if local.len() > config.limits.max_reply_bytes {
                            local = Vec::new();
                            ctx.error("reply_too_large");
                            reply::error(
                                &mut local,
                                b"ERR reply larger than limits.max_reply_bytes; closing",
                            );
                            queue.push_back(Queued::ready(command, started, local));
                            close = true;
                            continue;
                        }
                        match outcome {
                            Dispatched::Written => {
                                queue.push_back(Queued::ready(command, started, local))
                            }
                            Dispatched::Queued => {
                                queue.push_back(Queued::uncounted(started, local))
                            }
                            Dispatched::Later(pending) => {
                                queue.push_back(Queued::pending(command, started, pending))
                            }
                            Dispatched::Close => {
                                queue.push_back(Queued::ready(command, started, local));
                                close = true;
                            }
                        }
                    }
                    // A blocking pop that found nothing: the replies before it go out, then it waits.
                    if let Some(blocked) = session.blocked.take() {
                        let protocol = session.protocol;
                        if !wait_blocked(resp, &mut conn, blocked, protocol, &mut queue, &mut out)
                            .await
                        {
                            return;
                        }
                    }
                    // SYNC or PSYNC: the replies before it go out, then this is a replica's link.
                    if let Some(psync) = session.sync.take() {
                        dispatch::resolve(resp, &mut queue, &mut out).await;
                        if !out.is_empty()
                            && conn.write(&out, config.timeouts.idle()).await.is_err()
                        {
                            return;
                        }
                        out.clear();
                        let port = session.listening_port;
                        let resume = session.psync_from.take();
                        super::replication::serve_replica(
                            resp, &mut conn, &deadline, psync, port, resume,
                        )
                        .await;
                        return;
                    }
                    if queue.len() >= MAX_QUEUED || out.len() >= FLUSH_AT {
                        dispatch::resolve(resp, &mut queue, &mut out).await;
                        if out.len() >= FLUSH_AT {
                            resp.aof.flush();
                            if let Some(durable) = resp.aof.durable() {
                                durable.await;
                            }
                            let mailbox = session.mailbox().map(|m| &**m);
                            if send(&mut conn, &mut out, mailbox, config.timeouts.idle())
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
                Err(e) => {
                    ctx.error(e.kind().as_str());
                    dispatch::resolve(resp, &mut queue, &mut out).await;
                    reply::protocol_error(&mut out, &e);
                    tracing::debug!(shard = ctx.shard_id(), error = %e, "protocol error; closing the connection");
                    close = true;
                }
            }
        }
        dispatch::resolve(resp, &mut queue, &mut out).await;
        close |= session.client.close_after_reply.get();
        let took = read_at.elapsed();
        for command in served.drain(..) {
            resp.record(command, took);
        }
        if !take_mail(session, &mut out, &conn) {
            break;
        }
        if !out.is_empty() {
            // The writes before these replies are in the append-only file (with `appendfsync always`,
            // on the device) before the replies go out.
            resp.aof.flush();
            if let Some(durable) = resp.aof.durable() {
                durable.await;
            }
            let mailbox = session.mailbox().map(|m| &**m);
            if send(&mut conn, &mut out, mailbox, config.timeouts.idle())
                .await
                .is_err()
            {
                break;
            }
        }
        if close {
            break;
        }
        // Keep the incomplete tail at the front of the buffer.
        buf.copy_within(pos..filled, 0);
        filled -= pos;
        request_started = match (filled, pos) {
            (0, _) => None,
            (_, 0) => request_started.or(Some(read_at)),
            _ => Some(read_at),
        };
        if filled == 0 && buf.len() > 4 * INITIAL_BUFFER {
            buf = vec![0u8; INITIAL_BUFFER.min(config.limits.max_request_bytes)];
            lease.release_all();
        }
        session
            .client
            .query_buffer
            .set((filled, buf.len() - filled));
    }
}

/// Moves a subscribed connection's pending messages to the end of `out`; false when its mailbox passed
/// `pubsub_max_pending_bytes` and the connection must close (counted as `reason="pubsub_output_limit"`).
/// Inlined: a connection that never subscribed pays one check per command.
#[inline(always)]
fn take_mail(session: &Session, out: &mut Vec<u8>, conn: &Connection<Resp>) -> bool {
    match session.mailbox() {
        None => true,
        Some(mailbox) => take_pending(mailbox, out, conn),
    }
}

#[cold]
fn take_pending(mailbox: &Mailbox, out: &mut Vec<u8>, conn: &Connection<Resp>) -> bool {
    if mailbox.drain_into(out).is_ok() {
        return true;
    }
    output_limit(conn);
    false
}

fn output_limit(conn: &Connection<Resp>) {
    conn.context().error("pubsub_output_limit");
    tracing::debug!(
        shard = conn.context().shard_id(),
        "subscriber closed: its pending messages passed services.resp.settings.pubsub_max_pending_bytes"
    );
}

/// Writes `out`. For a subscribed connection the write is given up as soon as its mailbox overflows (a client
/// that does not read is closed then, not after the write timeout), and what it took from the mailbox stops
/// counting against the limit once written. Then `out` is emptied for the next replies.
async fn send(
    conn: &mut Connection<Resp>,
    out: &mut Vec<u8>,
    mailbox: Option<&Mailbox>,
    within: std::time::Duration,
) -> Result<(), ()> {
    write_out(conn, out, mailbox, within).await?;
    out.clear();
    // A burst's large buffer is given back rather than kept for the connection's life.
    if out.capacity() > 4 * FLUSH_AT {
        *out = Vec::with_capacity(INITIAL_BUFFER);
    }
    Ok(())
}

async fn write_out(
    conn: &mut Connection<Resp>,
    out: &[u8],
    mailbox: Option<&Mailbox>,
    within: std::time::Duration,
) -> Result<(), ()> {
    let Some(mailbox) = mailbox else {
        return conn.write(out, within).await.map_err(|_| ());
    };
    let written = futures_lite::future::or(async { Some(conn.write(out, within).await) }, async {
        mailbox.overflow().await;
        None
    })
    .await;
    match written {
        Some(Ok(())) => {
            mailbox.written();
            Ok(())
        }
        Some(Err(_)) => Err(()),
        None => {
            output_limit(conn);
            Err(())
        }
    }
}
