//! The append-only file's writer (see `aof.rs` for the file as a whole): the buffer the replication feed
//! appends every write to, the writer thread that writes it to the incr file and flushes the file to the
//! device as `appendfsync` says, and what a connection waits on under `appendfsync always`. Nothing here
//! knows the keyspace or the commands: the feed pushes bytes, `aof.rs` attaches, switches and stops.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// `appendfsync`: when appended writes are flushed to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// After every write, before its reply goes out.
    Always,
    /// At most once a second: a crash loses up to a second of writes.
    #[default]
    Everysec,
    /// Never by the server; the kernel writes dirty pages back on its own schedule.
    No,
}

impl Fsync {
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }

    pub fn parse(text: &[u8]) -> Option<Fsync> {
        match &*String::from_utf8_lossy(text).to_ascii_lowercase() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::Everysec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn of(code: u8) -> Fsync {
        match code {
            0 => Fsync::Always,
            1 => Fsync::Everysec,
            _ => Fsync::No,
        }
    }
}

/// What the append-only file is told by the `persistence` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AofSettings {
    pub dir: Option<PathBuf>,
    pub on: bool,
    pub fsync: Fsync,
    pub rdb_preamble: bool,
    pub auto_percentage: u64,
    pub auto_min_size: u64,
}

/// Where appended writes wait to be written to the incr file. Whoever comes first writes everything
/// pending, in feed order, under the one lock: a connection before it sends its replies (so a reply is only
/// seen once its write is in the file, as Redis writes its buffer before replying), or the writer thread,
/// which also flushes the file to the device as the policy says.
pub struct Sink {
    pending: Mutex<Pending>,
    ready: Condvar,
    /// Bytes appended, written to the file, and flushed to the device, since the sink was made.
    pub(super) appended: AtomicU64,
    pub(super) written: AtomicU64,
    pub(super) synced: AtomicU64,
    pub(super) fsync: AtomicU8,
    /// Connections waiting for their writes to be flushed (`always`).
    waiters: Mutex<Vec<Waker>>,
    /// The last write or flush succeeded (INFO's aof_last_write_status).
    pub(super) write_ok: AtomicBool,
    /// Bytes in the incr file being appended to.
    pub(super) incr_bytes: AtomicU64,
    /// The furthest point of the file a shard asked to have on the device (`always`).
    requested: AtomicU64,
    /// The writer thread waits for work: a connection that needs a flush wakes it only then (a wake-up
    /// is a system call, and while it works it sees every new write anyway).
    sleeping: AtomicBool,
}

struct Pending {
    bytes: Vec<u8>,
    file: File,
    /// Bumped when `file` changes, so the writer thread knows to duplicate the new one for its flushes.
    generation: u64,
    /// Continue in this file after the first `.0` bytes of `bytes` (a rewrite began).
    switch: Option<(usize, File)>,
    stop: bool,
}

impl Sink {
    pub fn new(file: File, fsync: Fsync, incr_bytes: u64) -> Sink {
        Sink {
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                file,
                generation: 0,
                switch: None,
                stop: false,
            }),
            ready: Condvar::new(),
            appended: AtomicU64::new(0),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            fsync: AtomicU8::new(fsync.code()),
            waiters: Mutex::default(),
            write_ok: AtomicBool::new(true),
            incr_bytes: AtomicU64::new(incr_bytes),
            sleeping: AtomicBool::new(false),
            requested: AtomicU64::new(0),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        // Every critical section leaves `Pending` whole: bytes not written stay at its front.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends encoded commands (the feed calls this under its own lock, in feed order).
    pub fn push(&self, bytes: &[u8]) {
        let mut pending = self.pending();
        pending.bytes.extend_from_slice(bytes);
        self.appended
            .fetch_add(bytes.len() as u64, Ordering::Release);
        // No wake-up: the connection that made the write writes it before its reply (`flush`), and the
        // writer thread's tick catches what no connection writes (expiry's DELs). Waking a thread per
        // write cost a context switch per request.
    }

    pub fn switch_to(&self, file: File) {
        let mut pending = self.pending();
        let at = pending.bytes.len();
        pending.switch = Some((at, file));
        drop(pending);
        self.ready.notify_one();
    }

    /// Ends the writer thread after its last write and flush.
    pub fn stop(&self) {
        self.pending().stop = true;
        self.ready.notify_one();
    }

    pub fn fsync(&self) -> Fsync {
        Fsync::of(self.fsync.load(Ordering::Relaxed))
    }

    /// Writes what is pending to the file, if anything is (a connection, before its replies go out).
    pub fn flush(&self) {
        if self.written.load(Ordering::Acquire) < self.appended.load(Ordering::Acquire) {
            let mut pending = self.pending();
            self.write_pending(&mut pending);
        }
    }

    /// Writes the pending bytes (switching files where a rewrite said) and counts them written; on an error
    /// what was not written stays pending for the writer thread to retry. Answers whether all went.
    fn write_pending(&self, pending: &mut Pending) -> bool {
        if pending.bytes.is_empty() && pending.switch.is_none() {
            return true;
        }
        let bytes = std::mem::take(&mut pending.bytes);
        let at = pending.switch.as_ref().map_or(bytes.len(), |(at, _)| *at);
        let first = write_some(&mut pending.file, &bytes[..at]);
        self.incr_bytes.fetch_add(first as u64, Ordering::Relaxed);
        let mut done = first;
        let mut ok = first == at;
        if ok {
            if let Some((_, next)) = pending.switch.take() {
                // The old file stays listed until the rewrite's manifest replaces it: whole on disk first.
                ok &= pending.file.sync_data().is_ok();
                pending.file = next;
                pending.generation += 1;
                self.incr_bytes.store(0, Ordering::Relaxed);
                let second = write_some(&mut pending.file, &bytes[at..]);
                self.incr_bytes.fetch_add(second as u64, Ordering::Relaxed);
                done += second;
                ok &= done == bytes.len();
            }
        } else if let Some((switch_at, _)) = &mut pending.switch {
            *switch_at -= done;
        }
        pending.bytes = bytes[done..].to_vec();
        self.written.fetch_add(done as u64, Ordering::Release);
        if !ok {
            self.write_ok.store(false, Ordering::Relaxed);
        }
        ok
    }

    /// Resolves once everything appended so far is on the device (policy `always`), or at once.
    pub fn durable(self: &Arc<Sink>) -> Option<Durable> {
        if self.fsync() != Fsync::Always {
            return None;
        }
        let target = self.appended.load(Ordering::Acquire);
        (self.synced.load(Ordering::Acquire) < target).then(|| Durable {
            sink: self.clone(),
            target,
        })
    }

    /// Blocks until everything appended is written to the file (not necessarily flushed), up to `within`.
    pub fn wait_written(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            self.flush();
            if self.written.load(Ordering::Acquire) >= self.appended.load(Ordering::Acquire) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn wake_waiters(&self) {
        let waiters = std::mem::take(
            &mut *self
                .waiters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for waker in waiters {
            waker.wake();
        }
    }
}

/// Writes `bytes` and answers how many went: all of them, or those before the file refused.
fn write_some(file: &mut File, bytes: &[u8]) -> usize {
    let mut done = 0;
    while done < bytes.len() {
        match file.write(&bytes[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot write the append-only file; retrying every second");
                break;
            }
        }
    }
    done
}

/// A connection waiting for its writes to reach the device before it replies (`appendfsync always`).
///
/// Connections wait in groups, one per shard, as Redis's clients wait for the one flush of an event-loop
/// turn: the first to wait starts the shard's committer task, which runs after the connections made ready
/// in the same turn (they join the group meanwhile), asks the writer thread for one flush covering them
/// all, and wakes them when it is done. One request and one cross-thread wake-up per group, not per
/// connection.
pub struct Durable {
    sink: Arc<Sink>,
    target: u64,
}

#[derive(Default)]
struct Group {
    waiters: Vec<Waker>,
    target: u64,
    committing: bool,
}

thread_local! {
    static GROUP: std::cell::RefCell<Group> = std::cell::RefCell::default();
}

impl Future for Durable {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.sink.synced.load(Ordering::Acquire) >= self.target {
            return Poll::Ready(());
        }
        let start = GROUP.with(|group| {
            let mut group = group.borrow_mut();
            group.waiters.push(cx.waker().clone());
            group.target = group.target.max(self.target);
            !std::mem::replace(&mut group.committing, true)
        });
        if start {
            glommio::spawn_local(commit(self.sink.clone())).detach();
        }
        Poll::Pending
    }
}

/// The shard's committer: after the connections of this turn joined, one flush for all of them, until no
/// connection waits.
async fn commit(sink: Arc<Sink>) {
    loop {
        // Behind the tasks already ready: the connections served in this turn join first.
        futures_lite::future::yield_now().await;
        let target = GROUP.with(|group| group.borrow().target);
        Synced {
            sink: sink.clone(),
            target,
        }
        .await;
        let waiters = GROUP.with(|group| {
            let mut group = group.borrow_mut();
            let waiters = std::mem::take(&mut group.waiters);
            if group.target <= target {
                group.committing = false;
            }
            waiters
        });
        let done = GROUP.with(|group| !group.borrow().committing);
        for waker in waiters {
            waker.wake();
        }
        if done {
            return;
        }
    }
}

/// The committer waiting for the writer thread's flush up to `target`.
struct Synced {
    sink: Arc<Sink>,
    target: u64,
}

impl Future for Synced {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.sink.synced.load(Ordering::Acquire) >= self.target {
            return Poll::Ready(());
        }
        self.sink
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(cx.waker().clone());
        self.sink.requested.fetch_max(self.target, Ordering::SeqCst);
        // Flushed between the check and the registration: no wake-up would come.
        if self.sink.synced.load(Ordering::Acquire) >= self.target {
            return Poll::Ready(());
        }
        // The writer thread sleeps until asked. (It set `sleeping` under the lock this shard's writes took
        // after, so a writer about to sleep is seen.)
        if self.sink.sleeping.load(Ordering::SeqCst) {
            self.sink.ready.notify_one();
        }
        Poll::Pending
    }
}

/// The writer thread: flushes the file to the device as the policy says (`always`: when a connection waits
/// for it; `everysec`: once a second), on a duplicate of its descriptor so that connections writing to the
/// file never wait for a flush; writes what no connection wrote (expiry's DELs) at least once a second;
/// retries a failing disk once a second; until stopped.
pub fn write_loop(sink: Arc<Sink>) {
    let mut last_sync = Instant::now();
    let mut flushed: Option<(u64, File)> = None;
    loop {
        let (stop, written, ok) = {
            let mut pending = sink.pending();
            let asked = |pending: &Pending| {
                pending.stop
                    || pending.switch.is_some()
                    || sink.fsync() == Fsync::Always
                        && sink.synced.load(Ordering::Acquire)
                            < sink.requested.load(Ordering::Acquire)
            };
            if !asked(&pending) {
                let tick = Duration::from_secs(1).saturating_sub(last_sync.elapsed());
                sink.sleeping.store(true, Ordering::SeqCst);
                pending = sink
                    .ready
                    .wait_timeout(pending, tick.max(Duration::from_millis(10)))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
                sink.sleeping.store(false, Ordering::SeqCst);
            }
            let ok = sink.write_pending(&mut pending);
            if flushed
                .as_ref()
                .is_none_or(|(g, _)| *g != pending.generation)
            {
                flushed = pending
                    .file
                    .try_clone()
                    .ok()
                    .map(|f| (pending.generation, f));
            }
            (pending.stop, sink.written.load(Ordering::Acquire), ok)
        };
        let policy = sink.fsync();
        let flush = policy == Fsync::Always
            || stop
            || policy == Fsync::Everysec && last_sync.elapsed() >= Duration::from_secs(1);
        let mut synced_ok = true;
        if flush && sink.synced.load(Ordering::Acquire) < written {
            synced_ok = flushed.as_ref().is_some_and(|(_, f)| f.sync_data().is_ok());
            last_sync = Instant::now();
        } else if flush {
            last_sync = Instant::now();
        }
        if synced_ok && (flush || policy == Fsync::No) {
            sink.synced.fetch_max(written, Ordering::AcqRel);
            sink.wake_waiters();
        }
        sink.write_ok.store(ok && synced_ok, Ordering::Relaxed);
        if stop {
            break;
        }
        if !ok {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}
