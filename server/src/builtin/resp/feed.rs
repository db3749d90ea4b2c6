//! The replication feed: one ordered stream of every effective write, in the form Redis 7.0 propagates it
//! (see [`super::propagate`] for the rewrites), delivered to each attached replica's bounded mailbox and,
//! while `appendonly` is on, to the append-only file's writer ([`super::aof::Sink`]).
//!
//! Ordering: a write is appended while its command still holds the parts of every key it touched (EXEC and
//! multi-key commands all of theirs), and deletions the store makes on its own (expiry, eviction) while their
//! part is held. So two writes to one key reach the feed in the order they were applied, whatever shards ran
//! them; writes to different parts may interleave in any order, which changes nothing a replica can see.
//! Appending takes the feed's mutex, a leaf lock (nothing is locked under it), for an encode and a copy per
//! replica.
//!
//! Cost: with nothing attached, a write pays one relaxed atomic load ([`Feed::active`]); the store's change
//! count and its list of expired or evicted keys are plain fields of the part already locked.
//!
//! The backlog: once a replica has attached, the last `repl-backlog-size` bytes of the stream are kept
//! (Redis's replication backlog), so a replica that lost its link and asks to continue (PSYNC with this
//! feed's replication id and an offset still in the backlog) gets the bytes it missed instead of a whole
//! copy of the dataset, which would hold every part. The backlog keeps the feed active (writes keep being
//! propagated) until no replica has been attached for `repl-backlog-ttl` (3600 s, as Redis).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pincore_resp::encode_command;
use pincore_resp::reply::Protocol;

use super::aof_writer::Sink;
use super::mailbox::Mailbox;
use super::random::random_u64;

/// What a replica may have pending (its stream not yet written to it) before it is disconnected, unless
/// `replica_max_pending_bytes` says otherwise: Redis's default hard `client-output-buffer-limit` for replicas.
pub const DEFAULT_REPLICA_LIMIT: usize = 256 * 1024 * 1024;

/// Redis's default `repl-backlog-size`.
pub const DEFAULT_BACKLOG: usize = 1024 * 1024;
/// Redis's default `repl-backlog-ttl`: the backlog is freed after this long without a replica.
const BACKLOG_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// One command as propagated: its arguments, the name first.
pub type Command = Vec<Vec<u8>>;

/// The feed, shared by every shard (it lives in the keyspace).
pub struct Feed {
    /// Attached replicas and the append-only file: the one load a write pays when there are none.
    consumers: AtomicUsize,
    state: Mutex<State>,
    /// Replicas disconnected because their pending stream passed the limit.
    pub slow_disconnected: AtomicU64,
    /// `replica_max_pending_bytes`.
    limit: AtomicUsize,
    /// `repl-ping-replica-period`, in seconds.
    ping_period_s: AtomicU64,
    /// `min-replicas-to-write`: writes are refused while fewer replicas are good (0: never refused).
    min_replicas: AtomicUsize,
    /// `min-replicas-max-lag`: a replica is good if it acknowledged within this many seconds.
    max_lag_s: AtomicU64,
    /// What `acked_at` counts from.
    epoch: std::time::Instant,
}

/// The error a write gets while too few replicas are good (`min-replicas-to-write`), as Redis words it.
pub const NOREPLICAS: &[u8] = b"NOREPLICAS Not enough good replicas to write.";

struct State {
    /// Redis's `master_replid`: 40 hex digits, new for each process.
    replid: String,
    /// Bytes appended since the process started (`master_repl_offset`).
    offset: u64,
    /// A SELECT has been sent since the last replica attached (Redis's `slaveseldb`).
    selected: bool,
    replicas: Vec<Arc<Replica>>,
    /// The append-only file's writer, while `appendonly` is on.
    aof: Option<Arc<Sink>>,
    /// The last bytes of the stream, once a replica has attached; its first byte is stream offset
    /// `offset - backlog.len() + 1` (Redis counts the stream's bytes from 1).
    backlog: Option<std::collections::VecDeque<u8>>,
    backlog_size: usize,
    /// When the last replica detached (the backlog is freed `BACKLOG_TTL` later).
    alone_since: Option<std::time::Instant>,
}

/// One attached replica, as the feed sees it.
pub struct Replica {
    pub mailbox: Mailbox,
    /// The offset the replica last acknowledged (REPLCONF ACK).
    pub acked: AtomicU64,
    /// Its REPLCONF listening-port, for INFO.
    pub port: AtomicU64,
    /// When it last acknowledged (or attached), in milliseconds from the feed's epoch.
    acked_at_ms: AtomicU64,
    pub addr: String,
}

impl Default for Feed {
    fn default() -> Feed {
        let replid = (0..3)
            .map(|_| format!("{:016x}", random_u64()))
            .collect::<String>()[..40]
            .to_string();
        Feed {
            consumers: AtomicUsize::new(0),
            state: Mutex::new(State {
                replid,
                offset: 0,
                selected: false,
                replicas: Vec::new(),
                aof: None,
                backlog: None,
                backlog_size: DEFAULT_BACKLOG,
                alone_since: None,
            }),
            slow_disconnected: AtomicU64::new(0),
            ping_period_s: AtomicU64::new(10),
            min_replicas: AtomicUsize::new(0),
            max_lag_s: AtomicU64::new(10),
            epoch: std::time::Instant::now(),
            limit: AtomicUsize::new(DEFAULT_REPLICA_LIMIT),
        }
    }
}

/// What INFO replication shows.
pub struct Status {
    pub replid: String,
    pub offset: u64,
    /// (address, listening port, acknowledged offset, seconds since it acknowledged) of each replica.
    pub replicas: Vec<(String, u64, u64, u64)>,
    /// Replicas that acknowledged within `min-replicas-max-lag` (`min_slaves_good_slaves`).
    pub good: usize,
}

impl Feed {
    /// Whether anything consumes the feed: the one relaxed load each write pays.
    #[inline]
    pub fn active(&self) -> bool {
        self.consumers.load(Ordering::Relaxed) > 0
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves `State` whole (an append is encoded before it is delivered).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends the commands one command (or one EXEC) propagates, wrapped in MULTI/EXEC when there are
    /// several; nothing for none. The caller holds the parts of every key they touch.
    pub fn append(&self, commands: &[Command]) {
        if commands.is_empty() || !self.active() {
            return;
        }
        let mut state = self.state();
        if state.replicas.is_empty() && state.backlog_expired() {
            state.backlog = None;
            self.consumers.store(state.consumers(), Ordering::Relaxed);
            if !self.active() {
                return;
            }
        }
        let mut out = Vec::new();
        if !state.selected {
            encode_command(&mut out, &[b"SELECT", b"0"]);
            state.selected = true;
        }
        let wrap = commands.len() > 1;
        if wrap {
            encode_command(&mut out, &[b"MULTI"]);
        }
        for command in commands {
            let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
            encode_command(&mut out, &args);
        }
        if wrap {
            encode_command(&mut out, &[b"EXEC"]);
        }
        state.deliver(&out, self.limit.load(Ordering::Relaxed));
    }

    /// Appends one command on its own, never wrapped (expiry and eviction DELs).
    pub fn append_each(&self, commands: impl IntoIterator<Item = Command>) {
        for command in commands {
            self.append(std::slice::from_ref(&command));
        }
    }

    /// Sends a command down the replicas' stream only, not to the append-only file: the PING of a quiet
    /// stream, WAIT's REPLCONF GETACK.
    pub fn to_replicas(&self, command: &[&[u8]]) {
        let mut state = self.state();
        if state.replicas.is_empty() {
            return;
        }
        let mut out = Vec::new();
        if !state.selected {
            encode_command(&mut out, &[b"SELECT", b"0"]);
            state.selected = true;
        }
        encode_command(&mut out, command);
        state.stream(&out, self.limit.load(Ordering::Relaxed));
    }

    /// Attaches the append-only file's writer, or detaches it (`None`). The caller holds every part, so
    /// no write is half in the file.
    pub fn set_aof(&self, sink: Option<Arc<Sink>>) {
        let mut state = self.state();
        state.aof = sink;
        state.selected = false;
        self.consumers.store(state.consumers(), Ordering::Relaxed);
    }

    /// Registers a replica and answers the replication id and the offset its copy of the dataset must be
    /// taken at: the caller holds every part, so no write falls between that copy and the stream.
    pub fn attach(&self, addr: String) -> (Arc<Replica>, String, u64) {
        let replica = Arc::new(Replica {
            mailbox: Mailbox::new(Protocol::Resp2),
            acked: AtomicU64::new(0),
            port: AtomicU64::new(0),
            acked_at_ms: AtomicU64::new(self.now_ms()),
            addr,
        });
        let mut state = self.state();
        state.replicas.push(replica.clone());
        state.selected = false;
        state.alone_since = None;
        if state.backlog.is_none() {
            state.backlog = Some(std::collections::VecDeque::new());
        }
        self.consumers.store(state.consumers(), Ordering::Relaxed);
        (replica, state.replid.clone(), state.offset)
    }

    /// PSYNC `replid` `from` (the first stream byte the replica lacks): when `replid` is this feed's and
    /// the backlog still holds byte `from`, registers the replica with the bytes from there already in
    /// its mailbox (Redis's partial resynchronization, `+CONTINUE`); `None` when it must get a whole copy.
    pub fn continue_from(&self, addr: String, replid: &[u8], from: u64) -> Option<Arc<Replica>> {
        let mut state = self.state();
        let backlog = state.backlog.as_ref()?;
        let first = state.offset + 1 - backlog.len() as u64;
        if replid != state.replid.as_bytes() || from < first || from > state.offset + 1 {
            return None;
        }
        let replica = Arc::new(Replica {
            mailbox: Mailbox::new(Protocol::Resp2),
            acked: AtomicU64::new(from - 1),
            port: AtomicU64::new(0),
            acked_at_ms: AtomicU64::new(self.now_ms()),
            addr,
        });
        let skip = (from - first) as usize;
        let missed: Vec<u8> = backlog.iter().skip(skip).copied().collect();
        replica
            .mailbox
            .deliver(&missed, self.limit.load(Ordering::Relaxed), false);
        state.replicas.push(replica.clone());
        state.alone_since = None;
        self.consumers.store(state.consumers(), Ordering::Relaxed);
        Some(replica)
    }

    /// Sets `repl-backlog-size`; a smaller backlog drops its oldest bytes.
    pub fn set_backlog_size(&self, bytes: usize) {
        let mut state = self.state();
        state.backlog_size = bytes.max(16 * 1024);
        let size = state.backlog_size;
        if let Some(backlog) = &mut state.backlog {
            let excess = backlog.len().saturating_sub(size);
            backlog.drain(..excess);
        }
    }

    /// What INFO's `repl_backlog_*` fields say: (active, size, first byte's offset, bytes held).
    pub fn backlog_status(&self) -> (bool, usize, u64, usize) {
        let state = self.state();
        match &state.backlog {
            Some(backlog) => (
                true,
                state.backlog_size,
                state.offset + 1 - backlog.len() as u64,
                backlog.len(),
            ),
            None => (false, state.backlog_size, 0, 0),
        }
    }

    /// Removes a replica whose connection ended.
    pub fn detach(&self, replica: &Arc<Replica>) {
        let mut state = self.state();
        state.replicas.retain(|r| !Arc::ptr_eq(r, replica));
        if state.replicas.is_empty() {
            state.alone_since = Some(std::time::Instant::now());
        }
        self.consumers.store(state.consumers(), Ordering::Relaxed);
    }

    pub fn status(&self) -> Status {
        let now = self.now_ms();
        let state = self.state();
        Status {
            replid: state.replid.clone(),
            offset: state.offset,
            replicas: state
                .replicas
                .iter()
                .map(|r| {
                    (
                        r.addr.clone(),
                        r.port.load(Ordering::Relaxed),
                        r.acked.load(Ordering::Relaxed),
                        now.saturating_sub(r.acked_at_ms.load(Ordering::Relaxed)) / 1000,
                    )
                })
                .collect(),
            good: self.good(&state, now),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Replicas that acknowledged within `min-replicas-max-lag`.
    fn good(&self, state: &State, now: u64) -> usize {
        let lag_ms = self.max_lag_s.load(Ordering::Relaxed).saturating_mul(1000);
        state
            .replicas
            .iter()
            .filter(|r| now.saturating_sub(r.acked_at_ms.load(Ordering::Relaxed)) <= lag_ms)
            .count()
    }

    /// Records a replica's REPLCONF ACK.
    pub fn acknowledge(&self, replica: &Replica, offset: u64) {
        replica.acked.store(offset, Ordering::Relaxed);
        replica.acked_at_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Sets `min-replicas-to-write` and `min-replicas-max-lag`.
    pub fn set_min_replicas(&self, replicas: usize, max_lag_s: u64) {
        self.min_replicas.store(replicas, Ordering::Relaxed);
        self.max_lag_s.store(max_lag_s, Ordering::Relaxed);
    }

    /// Whether writes are refused now: fewer good replicas than `min-replicas-to-write`. One relaxed load
    /// when that is 0, the default.
    #[inline]
    pub fn refuses_writes(&self) -> bool {
        let wanted = self.min_replicas.load(Ordering::Relaxed);
        wanted > 0 && self.refuses_below(wanted)
    }

    #[cold]
    fn refuses_below(&self, wanted: usize) -> bool {
        let now = self.now_ms();
        self.good(&self.state(), now) < wanted
    }

    /// Sets what a replica may have pending before it is disconnected.
    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    /// Sets how long the stream may be quiet before a PING goes down it.
    pub fn set_ping_period(&self, seconds: u64) {
        self.ping_period_s.store(seconds.max(1), Ordering::Relaxed);
    }

    /// How long the stream may be quiet before a PING goes down it.
    pub fn ping_period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ping_period_s.load(Ordering::Relaxed))
    }

    /// The current offset (`master_repl_offset`).
    pub fn offset(&self) -> u64 {
        self.state().offset
    }

    /// Replicas that acknowledged at least `offset` (WAIT).
    pub fn acknowledged(&self, offset: u64) -> usize {
        self.state()
            .replicas
            .iter()
            .filter(|r| r.acked.load(Ordering::Relaxed) >= offset)
            .count()
    }
}

impl State {
    fn consumers(&self) -> usize {
        self.replicas.len() + usize::from(self.aof.is_some()) + usize::from(self.backlog.is_some())
    }

    /// No replica has been attached for `BACKLOG_TTL`.
    fn backlog_expired(&self) -> bool {
        self.backlog.is_some() && self.alone_since.is_some_and(|t| t.elapsed() >= BACKLOG_TTL)
    }

    /// Bytes of the replication stream: counted in the offset, kept in the backlog, sent to every replica.
    fn stream(&mut self, bytes: &[u8], limit: usize) {
        if self.replicas.is_empty() && self.backlog.is_none() {
            return;
        }
        self.offset += bytes.len() as u64;
        let size = self.backlog_size;
        if let Some(backlog) = &mut self.backlog {
            if bytes.len() >= size {
                backlog.clear();
                backlog.extend(&bytes[bytes.len() - size..]);
            } else {
                let excess = (backlog.len() + bytes.len()).saturating_sub(size);
                backlog.drain(..excess);
                backlog.extend(bytes);
            }
        }
        for replica in &self.replicas {
            replica.mailbox.deliver(bytes, limit, false);
        }
    }

    fn deliver(&mut self, bytes: &[u8], limit: usize) {
        self.stream(bytes, limit);
        if let Some(aof) = &self.aof {
            aof.push(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(replica: &Replica) -> Vec<u8> {
        let mut out = Vec::new();
        replica.mailbox.drain_into(&mut out).unwrap();
        out
    }

    #[test]
    fn nothing_is_kept_without_a_consumer_and_select_leads_a_new_stream() {
        let feed = Feed::default();
        feed.append(&[vec![b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()]]);
        assert_eq!(feed.offset(), 0);
        let (replica, replid, offset) = feed.attach("127.0.0.1:1".into());
        assert_eq!((replid.len(), offset), (40, 0));
        feed.append(&[vec![b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()]]);
        feed.append(&[vec![b"DEL".to_vec(), b"a".to_vec()]]);
        let sent = drained(&replica);
        assert_eq!(
            sent,
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n"
        );
        assert_eq!(feed.offset(), sent.len() as u64);
        feed.detach(&replica);
        // The backlog keeps the stream going for a replica that comes back.
        assert!(feed.active());
    }

    #[test]
    fn a_replica_that_comes_back_continues_from_the_backlog_while_it_holds_its_offset() {
        let feed = Feed::default();
        let (replica, replid, _) = feed.attach("r".into());
        feed.append(&[vec![b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()]]);
        let seen = drained(&replica);
        feed.detach(&replica);
        // Written while it was away.
        feed.append(&[vec![b"SET".to_vec(), b"b".to_vec(), b"2".to_vec()]]);
        let from = seen.len() as u64 + 1;
        let back = feed
            .continue_from("r".into(), replid.as_bytes(), from)
            .unwrap();
        assert_eq!(drained(&back), b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
        // Another id, an offset ahead of the stream, or one the backlog no longer holds: a whole copy.
        assert!(feed.continue_from("r".into(), b"0000", from).is_none());
        assert!(feed
            .continue_from("r".into(), replid.as_bytes(), feed.offset() + 2)
            .is_none());
        feed.set_backlog_size(16 * 1024);
        for i in 0..2000 {
            feed.append(&[vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                i.to_string().into_bytes(),
            ]]);
        }
        assert!(feed
            .continue_from("r".into(), replid.as_bytes(), from)
            .is_none());
        let (active, size, first, held) = feed.backlog_status();
        assert!(active && size == 16 * 1024 && held == size);
        assert_eq!(first, feed.offset() + 1 - held as u64);
        assert!(feed
            .continue_from("r".into(), replid.as_bytes(), first)
            .is_some());
    }

    #[test]
    fn several_commands_are_wrapped_in_multi_exec() {
        let feed = Feed::default();
        let (replica, _, _) = feed.attach("r".into());
        feed.append(&[
            vec![b"SREM".to_vec(), b"s".to_vec(), b"x".to_vec()],
            vec![b"SREM".to_vec(), b"s".to_vec(), b"y".to_vec()],
        ]);
        let sent = String::from_utf8(drained(&replica)).unwrap();
        let words: Vec<&str> = sent
            .split("\r\n")
            .filter(|w| !w.starts_with(['*', '$']))
            .collect();
        assert_eq!(
            words,
            ["SELECT", "0", "MULTI", "SREM", "s", "x", "SREM", "s", "y", "EXEC", ""]
        );
    }
}
