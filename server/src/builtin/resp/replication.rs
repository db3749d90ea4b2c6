//! The master side of replication: a connection that sent SYNC or PSYNC becomes a replica's link. It gets a
//! copy of the dataset as an RDB file taken at a point of the feed ([`super::feed`]), then the feed from that
//! point, PINGs while the feed is quiet (`repl-ping-replica-period`), and its REPLCONF ACKs are read for WAIT and INFO.
//!
//! The copy: every part is held, in ascending order as EXEC holds them, while the replica is registered with
//! the feed and every key is encoded into memory ([`super::rdb`]); so no write falls between the copy and the
//! stream, and every shard waits on its next key's lock for that long (the pause, measured in
//! ARCHITECTURE.md). The checksum is computed on the blocking pool, and the file is sent like any reply,
//! without holding anything. The stream that arrives meanwhile waits in the replica's mailbox, bounded by
//! `replica_max_pending_bytes`: a replica that falls further behind is disconnected and counted.

use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use pincore_resp::{CommandParser, Limits};

use super::expiry::Clock;
use super::keyspace::PARTS;
use super::rdb;
use super::Resp;
use crate::framework::{Connection, ReadDeadline};

/// The RDB file of the dataset as it is now, and the replica registered with the feed at that point.
fn attach(
    resp: &Resp,
    addr: String,
    buffer: Vec<u8>,
) -> (std::sync::Arc<super::feed::Replica>, String, u64, Vec<u8>) {
    let keyspace = &resp.keyspace;
    let started = Instant::now();
    let mut held = keyspace.lock_parts((0..PARTS).collect());
    let (replica, replid, offset) = keyspace.feed.attach(addr);
    let (mut keys, mut expires) = (0, 0);
    held.for_each_store(|s| {
        keys += s.len();
        expires += s.expiring();
    });
    let clock = Clock::now();
    let origin = rdb::Origin {
        replid: &replid,
        offset,
        aof_base: false,
    };
    let mut file = rdb::begin(buffer, &origin, keys, expires, clock.unix_ms());
    let now = clock.instant();
    held.for_each_store(|store| rdb::put_store(&mut file, store, now, &clock));
    drop(held);
    tracing::info!(
        keys,
        bytes = file.len(),
        paused_ms = started.elapsed().as_millis() as u64,
        "replica attached: dataset copied under every part's lock"
    );
    (replica, replid, offset, file)
}

/// A replica whose pending stream passed `replica_max_pending_bytes`: counted (INFO's
/// `slow_replicas_disconnected`, `pincore_errors_total{reason="replica_output_limit"}`) and disconnected.
fn too_slow(resp: &Resp, conn: &Connection<Resp>) {
    resp.keyspace
        .feed
        .slow_disconnected
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    conn.context().error("replica_output_limit");
    tracing::warn!(
        "replica {} disconnected: its pending stream passed services.resp.settings.replica_max_pending_bytes",
        conn.peer()
    );
}

/// Serves the replica link on `conn` after SYNC (`psync` false) or PSYNC, until it closes, falls too far
/// behind or the server drains. `listening_port` is what the replica's REPLCONF said; `resume` the
/// replication id and the first stream offset PSYNC asked to continue from: when the backlog still holds it
/// the replica continues (`+CONTINUE`, only the bytes it missed), else it gets a whole copy.
pub async fn serve_replica(
    resp: &Resp,
    conn: &mut Connection<Resp>,
    deadline: &ReadDeadline,
    psync: bool,
    listening_port: u16,
    resume: Option<(Vec<u8>, u64)>,
) {
    let ctx = conn.context().clone();
    let addr = conn.peer().to_string();
    let within = ctx.config().timeouts.idle();
    let feed = &resp.keyspace.feed;
    let continued = resume
        .filter(|_| psync)
        .and_then(|(replid, from)| feed.continue_from(addr.clone(), &replid, from));
    let (replica, file) = match continued {
        Some(replica) => {
            tracing::info!(replica = %addr, "replica continued from the backlog (partial resynchronization)");
            (replica, None)
        }
        None => {
            // Room for the copy, its pages touched on the blocking pool, before anything is held (see
            // `rdb::buffer_for`).
            let estimate = resp.keyspace.used_memory();
            let buffer = ctx.spawn_blocking(move || rdb::buffer_for(estimate)).await;
            let (replica, replid, offset, file) = attach(resp, addr, buffer);
            (replica, Some((replid, offset, file)))
        }
    };
    replica.port.store(
        u64::from(listening_port),
        std::sync::atomic::Ordering::Relaxed,
    );
    struct Detach<'a>(&'a Resp, std::sync::Arc<super::feed::Replica>);
    impl Drop for Detach<'_> {
        fn drop(&mut self) {
            self.0.keyspace.feed.detach(&self.1);
        }
    }
    let _detach = Detach(resp, replica.clone());
    // A replica reads at its own pace: no idle deadline on this link.
    deadline.set(Instant::now() + Duration::from_secs(365 * 24 * 3600));
    match file {
        None => {
            let head = format!("+CONTINUE {}\r\n", feed.status().replid);
            if conn.write(head.as_bytes(), within).await.is_err() {
                return;
            }
        }
        Some((replid, offset, file)) => {
            let file = ctx.spawn_blocking(move || rdb::finish(file)).await;
            let mut head = Vec::new();
            if psync {
                head.extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
            }
            head.extend_from_slice(format!("${}\r\n", file.len()).as_bytes());
            if conn.write(&head, within).await.is_err() || conn.write(&file, within).await.is_err()
            {
                return;
            }
        }
    }
    let mut input = vec![0u8; 16 * 1024];
    let mut filled = 0;
    let mut parser = CommandParser::new();
    let limits = Limits {
        max_bulk_len: 1024,
        max_array_len: 16,
        max_inline_len: 1024,
    };
    let mut out = Vec::new();
    let mut last_sent = Instant::now();
    loop {
        if ctx.draining() {
            break;
        }
        if replica.mailbox.drain_into(&mut out).is_err() {
            too_slow(resp, conn);
            break;
        }
        if !out.is_empty() {
            // Given up as soon as the replica falls too far behind, not after the write timeout.
            let written = futures_lite::future::or(
                async { Some(conn.write(&out, within).await.is_ok()) },
                async {
                    replica.mailbox.overflow().await;
                    None
                },
            )
            .await;
            match written {
                Some(true) => {}
                Some(false) => break,
                None => {
                    too_slow(resp, conn);
                    break;
                }
            }
            replica.mailbox.written();
            out.clear();
            last_sent = Instant::now();
            continue;
        }
        let quiet_until = last_sent + resp.keyspace.feed.ping_period();
        let stream = conn.stream();
        let woke = futures_lite::future::or(
            async { Some(stream.read(&mut input[filled..]).await) },
            async {
                futures_lite::future::or(replica.mailbox.arrival(), async {
                    glommio::timer::sleep(quiet_until.saturating_duration_since(Instant::now()))
                        .await
                })
                .await;
                None
            },
        );
        let woke = futures_lite::future::or(woke, async {
            ctx.drained().await;
            None
        })
        .await;
        match woke {
            None => {
                if Instant::now() >= quiet_until {
                    resp.keyspace.feed.to_replicas(&[b"PING"]);
                    last_sent = Instant::now();
                }
            }
            Some(Ok(0) | Err(_)) => break,
            Some(Ok(n)) => {
                filled += n;
                let mut pos = 0;
                loop {
                    match parser.parse(&input[pos..filled], &limits) {
                        Ok(Some(consumed)) => {
                            let args = parser.args();
                            let command = &input[pos..pos + consumed];
                            let arg = |i: usize| args.get(i).map(|r| &command[r.clone()]);
                            if arg(0).is_some_and(|a| a.eq_ignore_ascii_case(b"REPLCONF"))
                                && arg(1).is_some_and(|a| a.eq_ignore_ascii_case(b"ACK"))
                            {
                                let acked = arg(2)
                                    .and_then(|a| std::str::from_utf8(a).ok()?.parse::<u64>().ok());
                                if let Some(acked) = acked {
                                    resp.keyspace.feed.acknowledge(&replica, acked);
                                }
                            }
                            pos += consumed;
                        }
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
                input.copy_within(pos..filled, 0);
                filled -= pos;
                if filled == input.len() {
                    return;
                }
            }
        }
    }
}
