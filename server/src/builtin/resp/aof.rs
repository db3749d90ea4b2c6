//! The append-only file: every effective write, as the replication feed carries it ([`super::feed`]),
//! appended to a file and flushed to disk as `appendfsync` says, so that a restart loses at most that
//! much. The layout is Redis 7.0's multi-part one, so redis-server can load what pincore-server wrote and
//! the other way round:
//!
//! ```text
//! <persistence.dir>/appendonlydir/
//!     appendonly.aof.manifest        file appendonly.aof.3.base.rdb seq 3 type b
//!                                    file appendonly.aof.3.incr.aof seq 3 type i
//!     appendonly.aof.3.base.rdb      the dataset when the last rewrite began (RDB, or commands)
//!     appendonly.aof.3.incr.aof      every write since, as RESP commands
//! ```
//!
//! How the work is shared (see `aof_writer.rs` for the writing itself):
//! - **Writes.** A write appends its propagated form to the feed while it holds its keyspace parts, and
//!   the feed copies it into the [`Sink`]'s pending buffer (a leaf lock). The connection writes what is
//!   pending to the incr file before its replies go out (so a reply is only seen once its write is in the
//!   file, as Redis's `beforeSleep` orders it); the writer thread calls `fdatasync` as the policy says:
//!   `always` before any reply goes out (a shard's connections wait for [`Sink::durable`] together, and
//!   the writer writes and flushes their bytes at once), `everysec` at most once a second, `no` never.
//! - **Rewrites** (BGREWRITEAOF, turning `appendonly` on, and the automatic rewrite once the file grew by
//!   `auto_aof_rewrite_percentage` over `auto_aof_rewrite_min_size`) run on the control thread. A new incr
//!   file is created and listed in the manifest next to the old ones first, so a crash at any point leaves
//!   a manifest whose files hold every write. Then, with every keyspace part held (the pause SYNC also
//!   makes), the writer is told to continue in the new file and the dataset is encoded into memory; the
//!   new base is written, flushed and renamed off the locks, the manifest replaced (write, flush, rename,
//!   directory flush), and the files it no longer lists are removed.
//! - **Loading** at start-up: an RDB base is loaded into the keyspace before the shards start; command
//!   files (incr files, and a base written as commands) were checked whole before that (a command cut
//!   short at the very end of the last file, as a crash leaves it, is cut off with a warning, as Redis's
//!   `aof-load-truncated yes` does; anything else names the file and the byte) and are replayed by shard
//!   0 through the command table before any shard accepts a connection. DEBUG LOADAOF replays the same
//!   way on the shard that runs it.
//!
//! With `appendonly` on, the append-only file is what a start loads, not the snapshot: it is the newer.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pincore_resp::{encode_command, CommandParser, Limits};

use super::aof_writer::{write_loop, AofSettings, Durable, Fsync, Sink};
use super::commands::{self, Call, Run, Session, COMMANDS};
use super::expiry::Clock;
use super::keyspace::{Keyspace, Parts, PARTS};
use super::rdb;
use super::store::{from_nanos, Store, ValueRef};
use super::types::Collection;
use super::Resp;

/// The directory inside `persistence.dir` (Redis's `appenddirname`).
pub const DIR_NAME: &str = "appendonlydir";
/// The files' common prefix (Redis's `appendfilename`).
pub const FILE_NAME: &str = "appendonly.aof";
const MANIFEST_SUFFIX: &str = ".manifest";
/// Elements per command when a collection is written as commands, as Redis's `AOF_REWRITE_ITEMS_PER_CMD`.
const ITEMS_PER_COMMAND: usize = 64;
/// Longest argument a command file may hold (Redis's `proto-max-bulk-len` default).
const MAX_BULK: usize = 512 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------
// The manifest.

/// What a manifest line says a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Base,
    Incr,
    /// A file a rewrite made obsolete, not yet removed.
    History,
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub seq: u64,
    pub kind: FileKind,
}

/// The manifest: the base (if any) and the incr files in the order they are loaded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub base: Option<Listed>,
    pub incrs: Vec<Listed>,
    pub history: Vec<Listed>,
}

impl Manifest {
    /// Reads Redis 7.0's manifest text: one `file <name> seq <n> type <b|i|h>` line per file (other keys
    /// ignored, as Redis ignores them; `#` lines are comments).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut manifest = Manifest::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.len().is_multiple_of(2) {
                return Err(at("not key-value pairs"));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair[0] {
                    "file" => name = Some(pair[1].to_string()),
                    "seq" => {
                        seq = Some(
                            pair[1]
                                .parse::<u64>()
                                .map_err(|_| at("seq is not a number"))?,
                        )
                    }
                    "type" => {
                        kind = Some(match pair[1] {
                            "b" => FileKind::Base,
                            "i" => FileKind::Incr,
                            "h" => FileKind::History,
                            _ => return Err(at("type is not b, i or h")),
                        })
                    }
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(at("a line needs file, seq and type"));
            };
            if name.contains('/') || name.starts_with('.') {
                return Err(at("a file name may not leave the directory"));
            }
            let listed = Listed { name, seq, kind };
            match kind {
                FileKind::Base if manifest.base.is_some() => return Err(at("a second base file")),
                FileKind::Base => manifest.base = Some(listed),
                FileKind::Incr => {
                    if manifest.incrs.last().is_some_and(|l| l.seq >= seq) {
                        return Err(at("incr files out of order"));
                    }
                    manifest.incrs.push(listed)
                }
                FileKind::History => manifest.history.push(listed),
            }
        }
        if manifest.base.is_none() && manifest.incrs.is_empty() {
            return Err("it lists no base and no incr file".into());
        }
        Ok(manifest)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let letter = |k: FileKind| match k {
            FileKind::Base => "b",
            FileKind::Incr => "i",
            FileKind::History => "h",
        };
        for l in self.base.iter().chain(&self.history).chain(&self.incrs) {
            out.push_str(&format!(
                "file {} seq {} type {}\n",
                l.name,
                l.seq,
                letter(l.kind)
            ));
        }
        out
    }

    /// The next sequence number: above every listed one.
    fn next_seq(&self) -> u64 {
        self.base
            .iter()
            .chain(&self.incrs)
            .chain(&self.history)
            .map(|l| l.seq)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Every file listed, for what a rewrite removes.
    fn names(&self) -> impl Iterator<Item = &str> {
        self.base
            .iter()
            .chain(&self.incrs)
            .chain(&self.history)
            .map(|l| l.name.as_str())
    }
}

fn manifest_path(aof_dir: &Path) -> PathBuf {
    aof_dir.join(format!("{FILE_NAME}{MANIFEST_SUFFIX}"))
}

/// The manifest in `aof_dir`, if there is one.
pub fn read_manifest(aof_dir: &Path) -> Result<Option<Manifest>, String> {
    let path = manifest_path(aof_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => Manifest::parse(&text)
            .map(Some)
            .map_err(|e| format!("append-only manifest {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "append-only manifest {}: cannot read it: {e}",
            path.display()
        )),
    }
}

/// Replaces the manifest crash-safely: a temporary file written and flushed, renamed over it, the
/// directory flushed.
fn persist_manifest(aof_dir: &Path, manifest: &Manifest) -> Result<(), String> {
    let path = manifest_path(aof_dir);
    write_durably(&path, manifest.render().as_bytes())
        .map_err(|e| format!("append-only manifest {}: {e}", path.display()))
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("aof"),
        std::process::id()
    ));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

// ---------------------------------------------------------------------------------------------------------
// Command files.

/// How a command file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Commands read (MULTI and EXEC not counted).
    pub commands: u64,
    /// Bytes up to the end of the last whole command (or whole MULTI ... EXEC).
    pub complete: u64,
    /// Bytes after that: a command, or a transaction, cut short.
    pub cut: u64,
}

/// Reads the RESP commands of `path` in order, handing each to `each` (a transaction's commands only once
/// its EXEC is read). SELECT 0 is skipped; another database is an error. A command or transaction cut short
/// at the end is reported in [`Scanned::cut`], not an error; bytes that are not a command are.
pub fn scan(
    path: &Path,
    mut each: impl FnMut(&[&[u8]]) -> Result<(), String>,
) -> Result<Scanned, String> {
    let name = path.display();
    let mut file = File::open(path).map_err(|e| format!("{name}: cannot open it: {e}"))?;
    let limits = Limits {
        max_bulk_len: MAX_BULK,
        max_array_len: 1 << 24,
        max_inline_len: 64 * 1024,
    };
    let mut parser = CommandParser::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    // Bytes of the file before `buf[0]`.
    let mut base = 0u64;
    let mut eof = false;
    let mut scanned = Scanned {
        commands: 0,
        complete: 0,
        cut: 0,
    };
    let mut transaction: Option<Vec<Vec<Vec<u8>>>> = None;
    loop {
        let mut pos = 0;
        loop {
            // Every command of the file is a RESP array (Redis's loader refuses anything else): an
            // inline command here is damage, not a command.
            if buf.get(pos).is_some_and(|&b| b != b'*') {
                return Err(format!(
                    "{name}: byte {}: not a RESP command (a command starts with '*')",
                    base + pos as u64
                ));
            }
            match parser.parse(&buf[pos..], &limits) {
                Ok(None) => break,
                Ok(Some(consumed)) => {
                    let input = &buf[pos..pos + consumed];
                    let args: Vec<&[u8]> =
                        parser.args().iter().map(|r| &input[r.clone()]).collect();
                    let at = base + pos as u64;
                    pos += consumed;
                    let Some(first) = args.first() else { continue };
                    let word = String::from_utf8_lossy(first).to_ascii_lowercase();
                    match word.as_str() {
                        "multi" => {
                            if transaction.is_some() {
                                return Err(format!("{name}: byte {at}: MULTI inside MULTI"));
                            }
                            transaction = Some(Vec::new());
                            continue;
                        }
                        "exec" => {
                            let Some(queued) = transaction.take() else {
                                return Err(format!("{name}: byte {at}: EXEC without MULTI"));
                            };
                            for command in &queued {
                                let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
                                each(&args).map_err(|e| format!("{name}: byte {at}: {e}"))?;
                                scanned.commands += 1;
                            }
                        }
                        "select" => {
                            if args.get(1).map(|d| d.as_ref()) != Some(&b"0"[..]) {
                                return Err(format!(
                                    "{name}: byte {at}: SELECT of another database than 0 (pincore-server keeps one)"
                                ));
                            }
                        }
                        _ => match &mut transaction {
                            Some(queued) => queued.push(args.iter().map(|a| a.to_vec()).collect()),
                            None => {
                                each(&args).map_err(|e| format!("{name}: byte {at}: {e}"))?;
                                scanned.commands += 1;
                            }
                        },
                    }
                    if transaction.is_none() {
                        scanned.complete = base + pos as u64;
                    }
                }
                Err(e) => {
                    return Err(format!(
                        "{name}: byte {}: not a RESP command: {e}",
                        base + pos as u64
                    ))
                }
            }
        }
        buf.drain(..pos);
        base += pos as u64;
        if eof {
            break;
        }
        let filled = buf.len();
        buf.resize(filled + (1 << 20), 0);
        let n = file
            .read(&mut buf[filled..])
            .map_err(|e| format!("{name}: cannot read it: {e}"))?;
        buf.truncate(filled + n);
        eof = n == 0;
    }
    scanned.cut = base + buf.len() as u64 - scanned.complete;
    Ok(scanned)
}

/// What a start or DEBUG LOADAOF loads: the files of a manifest, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub aof_dir: PathBuf,
    pub manifest: Manifest,
    /// The base, when it is an RDB file (loaded straight into the keyspace).
    pub rdb_base: Option<PathBuf>,
    /// The command files in order: a base written as commands, then the incr files.
    pub command_files: Vec<PathBuf>,
}

/// The plan for `dir`'s append-only file, if it has a manifest. Every command file is read through once:
/// a command cut short at the end of the last one (a crash in the middle of a write) is cut off the file
/// (`truncate` true) with a warning; anything else unreadable names the file and the byte.
pub fn plan(dir: &Path, truncate: bool) -> Result<Option<Plan>, String> {
    let aof_dir = dir.join(DIR_NAME);
    let Some(manifest) = read_manifest(&aof_dir)? else {
        return Ok(None);
    };
    let mut rdb_base = None;
    let mut command_files = Vec::new();
    if let Some(base) = &manifest.base {
        let path = aof_dir.join(&base.name);
        let mut head = [0u8; 5];
        let read = File::open(&path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| format!("append-only base {}: {e}", path.display()))?;
        if read == 5 && &head == b"REDIS" {
            rdb_base = Some(path);
        } else {
            command_files.push(path);
        }
    }
    command_files.extend(manifest.incrs.iter().map(|l| aof_dir.join(&l.name)));
    let last = command_files.len();
    for (i, path) in command_files.iter().enumerate() {
        let scanned = scan(path, |args| {
            if commands::lookup(args[0]) == commands::UNKNOWN {
                return Err(format!(
                    "unknown command '{}'",
                    String::from_utf8_lossy(args[0])
                ));
            }
            Ok(())
        })
        .map_err(|e| format!("append-only file {e}"))?;
        if scanned.cut > 0 {
            let is_last_incr = i + 1 == last && manifest.incrs.last().is_some();
            if !is_last_incr {
                return Err(format!(
                    "append-only file {}: ends with {} bytes of a command cut short, and it is not the last file (only a crash while appending to the last one leaves that); restore the directory from a backup",
                    path.display(),
                    scanned.cut
                ));
            }
            tracing::warn!(
                path = %path.display(),
                bytes = scanned.cut,
                "the append-only file ends with a command cut short (a crash while it was written): cut off"
            );
            if truncate {
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(scanned.complete))
                    .map_err(|e| {
                        format!(
                            "append-only file {}: cannot cut off the partial command: {e}",
                            path.display()
                        )
                    })?;
            }
        }
    }
    Ok(Some(Plan {
        aof_dir,
        manifest,
        rdb_base,
        command_files,
    }))
}

/// Loads an RDB base into `keyspace`: (keys loaded, keys already expired).
pub fn load_rdb_base(keyspace: &Keyspace, path: &Path) -> Result<(u64, u64), String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("append-only base {}: {e}", path.display()))?;
    let clock = Clock::now();
    let now_ms = clock.unix_ms();
    let (mut loaded, mut expired) = (0, 0);
    rdb::read(&bytes, MAX_BULK, |key, value, deadline| match deadline {
        Some(ms) if ms <= now_ms => expired += 1,
        _ => {
            let at = deadline.map(|ms| clock.instant_at(ms));
            keyspace.lock(&key).put(&key, value, at, clock.instant());
            loaded += 1;
        }
    })
    .map_err(|e| format!("append-only base {}: {e}", path.display()))?;
    Ok((loaded, expired))
}

/// Replays the command files of `plan` through the command table on this shard. Replies are dropped;
/// error replies are counted and the first few logged, as Redis loads past them. Answers the commands run.
pub fn replay(resp: &Resp, plan: &Plan) -> Result<u64, String> {
    let mut session = Session::for_connection(-1);
    session.authenticated = true;
    let mut out = Vec::new();
    let mut failed = 0u64;
    let mut total = 0;
    for path in &plan.command_files {
        let scanned = scan(path, |args| {
            let command = commands::lookup(args[0]);
            let Some(spec) = COMMANDS.get(command) else {
                return Err(format!(
                    "unknown command '{}'",
                    String::from_utf8_lossy(args[0])
                ));
            };
            if !spec.arity_ok(args.len()) {
                return Err(format!("wrong number of arguments for '{}'", spec.name));
            }
            let Run::Here(run) = spec.run else {
                return Err(format!("'{}' cannot be replayed", spec.name));
            };
            out.clear();
            let mut call = Call {
                resp,
                session: &mut session,
                args,
                now: Instant::now(),
                out: &mut out,
                parts: Parts::Lock(&resp.keyspace),
                later: None,
            };
            run(&mut call);
            if out.first() == Some(&b'-') {
                failed += 1;
                if failed <= 5 {
                    tracing::warn!(
                        command = spec.name,
                        reply = %String::from_utf8_lossy(&out).trim_end(),
                        "a command of the append-only file failed as it was replayed"
                    );
                }
            }
            Ok(())
        })
        .map_err(|e| format!("append-only file {e}"))?;
        total += scanned.commands;
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------------------
// Control.

/// How the keyspace was loaded at start-up, which says how the append-only file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// From the append-only file itself: appending continues in its last incr file.
    Aof,
    /// From a snapshot or nothing: turning on begins with a rewrite.
    Other,
    /// A successor's keyspace comes from its predecessor: nothing starts until it has taken over.
    Predecessor,
}

/// What INFO persistence reports of the append-only file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AofStatus {
    pub enabled: bool,
    pub rewrite_in_progress: bool,
    pub rewrite_scheduled: bool,
    pub last_rewrite_secs: i64,
    pub current_rewrite_secs: i64,
    pub last_rewrite_ok: bool,
    pub last_write_ok: bool,
    pub rewrites: u64,
    pub current_size: u64,
    pub base_size: u64,
    pub buffer_length: u64,
}

/// The append-only file of one keyspace, shared by every shard.
pub struct Aof {
    keyspace: Arc<Keyspace>,
    requests: Mutex<Requests>,
    wake: Condvar,
    control: std::sync::OnceLock<std::thread::JoinHandle<()>>,
    /// Held while the file is turned on or off or rewritten: one change at a time.
    changing: Mutex<()>,
    /// The writer, while the file is on (read by INFO and the connections' `always` waits).
    sink: Mutex<Option<Arc<Sink>>>,
    /// `appendfsync always`: the one load a connection pays before it writes replies otherwise.
    always: AtomicBool,
    /// A writer is attached.
    on: AtomicBool,
    rewriting: AtomicBool,
    rewrite_started: Mutex<Option<Instant>>,
    last_rewrite_ok: AtomicBool,
    last_rewrite_secs: AtomicI64,
    rewrites: AtomicU64,
    /// Bytes of the base after the last rewrite, and of every file since (Redis's aof_base_size and
    /// aof_current_size); the automatic rewrite compares them.
    base_size: AtomicU64,
    listed_size: AtomicU64,
    /// The command files shard 0 replays before any shard serves (see [`Aof::replay_at_start`]).
    start: Mutex<Start>,
    started: Condvar,
}

#[derive(Default)]
enum Start {
    #[default]
    Nothing,
    Replay(Plan),
    Replaying,
}

struct Requests {
    wanted: AofSettings,
    origin: Origin,
    /// BGREWRITEAOF was asked for (INFO's aof_rewrite_scheduled).
    rewrite: bool,
    stop: bool,
    /// Turning on failed: not retried before this.
    retry_at: Option<Instant>,
}

impl Aof {
    pub fn new(keyspace: Arc<Keyspace>) -> Aof {
        Aof {
            keyspace,
            requests: Mutex::new(Requests {
                wanted: AofSettings::default(),
                origin: Origin::Other,
                rewrite: false,
                stop: false,
                retry_at: None,
            }),
            wake: Condvar::new(),
            control: std::sync::OnceLock::new(),
            changing: Mutex::default(),
            sink: Mutex::default(),
            always: AtomicBool::new(false),
            on: AtomicBool::new(false),
            rewriting: AtomicBool::new(false),
            rewrite_started: Mutex::default(),
            last_rewrite_ok: AtomicBool::new(true),
            last_rewrite_secs: AtomicI64::new(-1),
            rewrites: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            listed_size: AtomicU64::new(0),
            start: Mutex::default(),
            started: Condvar::new(),
        }
    }

    fn requests(&self) -> MutexGuard<'_, Requests> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// With `appendfsync always`, what a connection awaits before it writes its replies: every write
    /// appended so far on the device. `None` (nothing to wait for) otherwise, for one relaxed load.
    #[inline]
    pub fn durable(&self) -> Option<Durable> {
        if !self.always.load(Ordering::Relaxed) {
            return None;
        }
        self.sink()?.durable()
    }

    /// Before a connection sends replies: the writes before them are in the file (not yet flushed to the
    /// device: that is `appendfsync`'s business), so a crash of the process alone loses no answered write.
    /// One relaxed load while the file is off.
    /// Under `appendfsync always` it does nothing: the writer thread writes everything pending before the
    /// flush the replies wait for, one write for the whole group.
    #[inline]
    pub fn flush(&self) {
        if self.on.load(Ordering::Relaxed) && !self.always.load(Ordering::Relaxed) {
            if let Some(sink) = self.sink() {
                sink.flush();
            }
        }
    }

    /// The running writer, if the file is on.
    pub fn sink(&self) -> Option<Arc<Sink>> {
        self.sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Applies the `persistence` settings (at start, on SIGHUP and CONFIG SET, on every shard: the same
    /// settings twice change nothing). Turning on or off happens on the control thread.
    pub fn configure(self: &Arc<Aof>, wanted: AofSettings) {
        {
            let mut requests = self.requests();
            if requests.wanted == wanted {
                return;
            }
            if requests.wanted.on != wanted.on {
                requests.retry_at = None;
            }
            requests.wanted = wanted.clone();
        }
        self.resume_now();
        if let Some(sink) = self.sink() {
            sink.fsync.store(wanted.fsync.code(), Ordering::Relaxed);
        }
        self.always
            .store(wanted.fsync == Fsync::Always, Ordering::Relaxed);
        // No thread at all for a server that never turns the file on (BGREWRITEAOF starts one too).
        if wanted.on || self.control.get().is_some() {
            self.kick();
        }
    }

    /// The keyspace comes from the append-only file in `plan`: its RDB base is loaded already, its command
    /// files are replayed by shard 0 ([`Aof::replay_at_start`]); then appending continues in its last file.
    pub fn loaded_from(&self, plan: Option<Plan>) {
        if let Some(plan) = plan {
            *self
                .start
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Start::Replay(plan);
        }
        self.requests().origin = Origin::Aof;
    }

    /// This server is a successor: the file is left alone until [`Aof::taken_over`].
    pub fn await_predecessor(&self) {
        self.requests().origin = Origin::Predecessor;
    }

    /// The predecessor handed its keyspace over (after it flushed and closed its file): appending goes on
    /// where it stopped.
    pub fn taken_over(self: &Arc<Aof>) {
        let on = {
            let mut requests = self.requests();
            requests.origin = Origin::Aof;
            requests.wanted.on
        };
        self.resume_now();
        if on {
            self.kick();
        }
    }

    /// When the keyspace is what the file holds and the file is wanted on: appending resumes here and now,
    /// before a write could miss it (at start, on the shard that configures first; after a takeover).
    fn resume_now(&self) {
        let wanted = {
            let requests = self.requests();
            if !requests.wanted.on || requests.origin != Origin::Aof {
                return;
            }
            requests.wanted.clone()
        };
        let _changing = self
            .changing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.sink().is_some() {
            return;
        }
        match self.resume(&wanted) {
            Ok(()) => self.requests().origin = Origin::Other,
            // The control thread retries.
            Err(e) => tracing::error!(error = %e, "cannot reopen the append-only file"),
        }
    }

    /// On shard 0 before it serves: replays what [`Aof::loaded_from`] left; on the other shards: waits until
    /// that is done, so no connection sees a keyspace half loaded.
    pub fn replay_at_start(&self, resp: &Resp, shard: usize) {
        let mut start = self
            .start
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if shard == 0 {
            if !matches!(*start, Start::Replay(_)) {
                return;
            }
            let Start::Replay(plan) = std::mem::replace(&mut *start, Start::Replaying) else {
                unreachable!("checked above");
            };
            drop(start);
            // The other shards are released however this ends, a panic in a command included.
            struct Release<'a>(&'a Aof);
            impl Drop for Release<'_> {
                fn drop(&mut self) {
                    *self
                        .0
                        .start
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Start::Nothing;
                    self.0.started.notify_all();
                }
            }
            let _release = Release(self);
            let began = Instant::now();
            let outcome = replay(resp, &plan);
            match outcome {
                Ok(commands) => tracing::info!(
                    commands,
                    files = plan.command_files.len(),
                    took_ms = began.elapsed().as_millis() as u64,
                    "append-only file replayed"
                ),
                // Checked whole before the start: only the file changing since can fail here.
                Err(e) => {
                    tracing::error!(error = %e, "the append-only file could not be replayed whole")
                }
            }
        } else {
            while matches!(*start, Start::Replay(_) | Start::Replaying) {
                start = self
                    .started
                    .wait(start)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
    }

    /// BGREWRITEAOF: false when a rewrite is already running or asked for.
    pub fn request_rewrite(self: &Arc<Aof>) -> Result<(), &'static str> {
        let mut requests = self.requests();
        if requests.wanted.dir.is_none() {
            return Err("ERR BGREWRITEAOF needs services.resp.settings.persistence.dir, the directory the append-only file is written in");
        }
        if requests.rewrite || self.rewriting.load(Ordering::Acquire) {
            return Err("ERR Background append only file rewriting already in progress");
        }
        requests.rewrite = true;
        drop(requests);
        self.kick();
        Ok(())
    }

    /// Waits (blocking, up to `within`) until no rewrite is running or asked for and every appended write
    /// is in the file: DEBUG LOADAOF then reads what was written.
    pub fn quiesce(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let busy = {
                let requests = self.requests();
                requests.rewrite
                    || self.rewriting.load(Ordering::Acquire)
                    || requests.wanted.on != self.sink().is_some()
                        && requests.origin != Origin::Predecessor
                        && requests.retry_at.is_none()
            };
            if !busy {
                break;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.sink().is_none_or(|sink| {
            sink.wait_written(deadline.saturating_duration_since(Instant::now()))
        })
    }

    /// Stops appending: pending writes are written and flushed, the writer and control threads end. At
    /// shutdown and before a handoff.
    pub fn shutdown(&self) {
        self.requests().stop = true;
        self.wake.notify_all();
        if let Some(control) = self.control.get() {
            // The thread is joined by whoever made it exit; waiting for it here is enough.
            while !control.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Without a control thread (never started) there is no writer either.
    }

    pub fn status(&self) -> AofStatus {
        let sink = self.sink();
        let started = *self
            .rewrite_started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        AofStatus {
            enabled: sink.is_some(),
            rewrite_in_progress: self.rewriting.load(Ordering::Acquire),
            rewrite_scheduled: {
                // Turning on is a rewrite about to start, as Redis reports it.
                let requests = self.requests();
                requests.rewrite
                    || requests.wanted.on
                        && sink.is_none()
                        && !self.rewriting.load(Ordering::Acquire)
                        && requests.origin != Origin::Predecessor
                        && requests.retry_at.is_none()
            },
            last_rewrite_secs: self.last_rewrite_secs.load(Ordering::Relaxed),
            current_rewrite_secs: started.map_or(-1, |s| s.elapsed().as_secs() as i64),
            last_rewrite_ok: self.last_rewrite_ok.load(Ordering::Relaxed),
            last_write_ok: sink
                .as_ref()
                .is_none_or(|s| s.write_ok.load(Ordering::Relaxed)),
            rewrites: self.rewrites.load(Ordering::Relaxed),
            current_size: self.listed_size.load(Ordering::Relaxed)
                + sink
                    .as_ref()
                    .map_or(0, |s| s.incr_bytes.load(Ordering::Relaxed)),
            base_size: self.base_size.load(Ordering::Relaxed),
            buffer_length: sink.as_ref().map_or(0, |s| {
                s.appended
                    .load(Ordering::Acquire)
                    .saturating_sub(s.written.load(Ordering::Acquire))
            }),
        }
    }

    fn kick(self: &Arc<Aof>) {
        let aof = self.clone();
        self.control.get_or_init(|| {
            std::thread::Builder::new()
                .name("pincore-aof".into())
                .spawn(move || aof.control_loop())
                .expect("a thread for the append-only file")
        });
        self.wake.notify_all();
    }

    /// The control thread: turns the file on and off, rewrites it, until [`Aof::shutdown`].
    fn control_loop(self: Arc<Aof>) {
        loop {
            let (wanted, origin, rewrite, stop, retry_at) = {
                let mut requests = self.requests();
                let idle = !requests.stop
                    && !requests.rewrite
                    && (requests.wanted.on == self.sink().is_some()
                        || requests.origin == Origin::Predecessor);
                if idle {
                    requests = self
                        .wake
                        .wait_timeout(requests, Duration::from_secs(1))
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
                (
                    requests.wanted.clone(),
                    requests.origin,
                    requests.rewrite,
                    requests.stop,
                    requests.retry_at,
                )
            };
            let _changing = self
                .changing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if stop {
                self.turn_off();
                return;
            }
            let on = self.sink().is_some();
            if wanted.on && !on && origin != Origin::Predecessor {
                if retry_at.is_some_and(|at| Instant::now() < at) {
                    drop(_changing);
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                let outcome = if origin == Origin::Aof {
                    self.resume(&wanted)
                } else {
                    self.rewrite(&wanted, true)
                };
                if let Err(e) = outcome {
                    // A writer attached to an incr file no manifest lists would append in vain.
                    self.turn_off();
                    tracing::error!(error = %e, "cannot turn the append-only file on; retrying in 10 s");
                    self.requests().retry_at = Some(Instant::now() + Duration::from_secs(10));
                } else {
                    self.requests().origin = Origin::Other;
                }
                continue;
            }
            if !wanted.on && on {
                self.turn_off();
                // What is on disk is no longer the keyspace: turning on again starts with a rewrite.
                self.requests().origin = Origin::Other;
            }
            let automatic = on && wanted.auto_percentage > 0 && {
                let current = self.status().current_size;
                let base = self.base_size.load(Ordering::Relaxed).max(1);
                current >= wanted.auto_min_size
                    && (current.saturating_sub(base)) * 100 / base >= wanted.auto_percentage
            };
            if rewrite || automatic {
                if automatic && !rewrite {
                    tracing::info!(
                        "the append-only file grew past auto_aof_rewrite_percentage: rewriting it"
                    );
                }
                if let Err(e) = self.rewrite(&wanted, false) {
                    tracing::error!(error = %e, "the append-only file rewrite failed");
                }
                self.requests().rewrite = false;
            }
        }
    }

    /// Starts the writer on `file`, attached to the feed; the caller holds every part when it matters.
    fn attach(&self, wanted: &AofSettings, file: File, incr_bytes: u64) {
        let sink = Arc::new(Sink::new(file, wanted.fsync, incr_bytes));
        let writer = sink.clone();
        std::thread::Builder::new()
            .name("pincore-aof-write".into())
            .spawn(move || write_loop(writer))
            .expect("a thread for the append-only file's writes");
        self.keyspace.feed.set_aof(Some(sink.clone()));
        *self
            .sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sink);
        self.on.store(true, Ordering::Relaxed);
    }

    /// Continues appending to the last incr file of the manifest the keyspace was loaded from (a new one if
    /// it lists none).
    fn resume(&self, wanted: &AofSettings) -> Result<(), String> {
        let dir = wanted.dir.as_ref().ok_or("persistence.dir is not set")?;
        let aof_dir = dir.join(DIR_NAME);
        let Some(mut manifest) = read_manifest(&aof_dir)? else {
            return self.rewrite(wanted, true);
        };
        let (path, created) = match manifest.incrs.last() {
            Some(last) => (aof_dir.join(&last.name), false),
            None => {
                let seq = manifest.next_seq();
                let name = incr_name(seq);
                manifest.incrs.push(Listed {
                    name: name.clone(),
                    seq,
                    kind: FileKind::Incr,
                });
                (aof_dir.join(name), true)
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("append-only file {}: {e}", path.display()))?;
        if created {
            persist_manifest(&aof_dir, &manifest)?;
        }
        let incr_bytes = file.metadata().map_or(0, |m| m.len());
        let listed = listed_bytes(&aof_dir, &manifest) - incr_bytes;
        self.listed_size.store(listed, Ordering::Relaxed);
        self.base_size.store(listed + incr_bytes, Ordering::Relaxed);
        let _held = self.keyspace.lock_parts((0..PARTS).collect());
        self.attach(wanted, file, incr_bytes);
        tracing::info!(path = %path.display(), "appending to the append-only file");
        Ok(())
    }

    /// Stops the writer: detached from the feed, its pending bytes written and flushed.
    fn turn_off(&self) {
        let Some(sink) = self
            .sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        self.on.store(false, Ordering::Relaxed);
        self.keyspace.feed.set_aof(None);
        sink.wait_written(Duration::from_secs(30));
        sink.stop();
        // The writer's last turn flushes the file to the device.
        let deadline = Instant::now() + Duration::from_secs(30);
        while sink.synced.load(Ordering::Acquire) < sink.written.load(Ordering::Acquire)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Anyone still waiting for a flush gets their reply: the writer has ended.
        sink.synced.store(u64::MAX, Ordering::Release);
        sink.wake_waiters();
        tracing::info!("append-only file closed");
    }

    /// A rewrite: a new base of the dataset as it is now, and (when the file is on, or `turning_on`) a new
    /// incr file that every later write goes to. See the module documentation for the order of steps.
    fn rewrite(&self, wanted: &AofSettings, turning_on: bool) -> Result<(), String> {
        let dir = wanted
            .dir
            .as_ref()
            .ok_or("services.resp.settings.persistence.dir is not set")?;
        self.rewriting.store(true, Ordering::Release);
        *self
            .rewrite_started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        let began = Instant::now();
        let outcome = self.rewrite_in(dir, wanted, turning_on);
        *self
            .rewrite_started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.last_rewrite_secs
            .store(began.elapsed().as_secs() as i64, Ordering::Relaxed);
        self.last_rewrite_ok
            .store(outcome.is_ok(), Ordering::Relaxed);
        self.rewriting.store(false, Ordering::Release);
        if outcome.is_ok() {
            self.rewrites.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    fn rewrite_in(&self, dir: &Path, wanted: &AofSettings, turning_on: bool) -> Result<(), String> {
        let aof_dir = dir.join(DIR_NAME);
        std::fs::create_dir_all(&aof_dir)
            .map_err(|e| format!("append-only directory {}: {e}", aof_dir.display()))?;
        let old = read_manifest(&aof_dir)?.unwrap_or_default();
        let seq = old.next_seq();
        let on = turning_on || self.sink().is_some();
        let incr = if on {
            let name = incr_name(seq);
            let path = aof_dir.join(&name);
            let file = File::create(&path)
                .map_err(|e| format!("append-only file {}: {e}", path.display()))?;
            if !turning_on {
                // Listed before any write goes there: a crash now still loads every write.
                let mut next = old.clone();
                next.incrs.push(Listed {
                    name: name.clone(),
                    seq,
                    kind: FileKind::Incr,
                });
                persist_manifest(&aof_dir, &next)?;
            }
            Some((name, file))
        } else {
            None
        };
        // Room for the copy, its pages touched, before anything is held (see `rdb::buffer_for`).
        let buffer = rdb::buffer_for(self.keyspace.used_memory());
        // The point in time: every part held while the writer switches files and the dataset is copied.
        let started = Instant::now();
        let (base, keys) = {
            let mut held = self.keyspace.lock_parts((0..PARTS).collect());
            if let Some((_, file)) = &incr {
                let file = file
                    .try_clone()
                    .map_err(|e| format!("append-only file: {e}"))?;
                match self.sink() {
                    Some(sink) if !turning_on => sink.switch_to(file),
                    _ => self.attach(wanted, file, 0),
                }
            }
            let clock = Clock::now();
            let now = clock.instant();
            let mut keys = 0;
            let base = if wanted.rdb_preamble {
                let mut expires = 0;
                held.for_each_store(|s| {
                    keys += s.len();
                    expires += s.expiring();
                });
                let replid = self.keyspace.feed.status().replid;
                let origin = rdb::Origin {
                    replid: &replid,
                    offset: 0,
                    aof_base: true,
                };
                let mut out = rdb::begin(buffer, &origin, keys, expires, clock.unix_ms());
                held.for_each_store(|store| rdb::put_store(&mut out, store, now, &clock));
                out
            } else {
                let mut out = buffer;
                held.for_each_store(|store| {
                    keys += store.len();
                    put_commands(&mut out, store, now, &clock);
                });
                out
            };
            (base, keys)
        };
        let paused = started.elapsed();
        let (base, extension) = if wanted.rdb_preamble {
            (rdb::finish(base), "rdb")
        } else {
            (base, "aof")
        };
        let base_name = format!("{FILE_NAME}.{seq}.base.{extension}");
        let base_path = aof_dir.join(&base_name);
        write_durably(&base_path, &base)
            .map_err(|e| format!("append-only base {}: {e}", base_path.display()))?;
        let mut next = Manifest {
            base: Some(Listed {
                name: base_name,
                seq,
                kind: FileKind::Base,
            }),
            incrs: Vec::new(),
            history: Vec::new(),
        };
        if let Some((name, _)) = &incr {
            next.incrs.push(Listed {
                name: name.clone(),
                seq,
                kind: FileKind::Incr,
            });
        }
        persist_manifest(&aof_dir, &next)?;
        let kept: Vec<&str> = next.names().collect();
        for name in old.names().filter(|n| !kept.contains(n)) {
            let _ = std::fs::remove_file(aof_dir.join(name));
        }
        self.base_size.store(base.len() as u64, Ordering::Relaxed);
        self.listed_size.store(base.len() as u64, Ordering::Relaxed);
        tracing::info!(
            keys,
            bytes = base.len(),
            paused_ms = paused.as_millis() as u64,
            base = %base_path.display(),
            "append-only file rewritten"
        );
        Ok(())
    }
}

fn incr_name(seq: u64) -> String {
    format!("{FILE_NAME}.{seq}.incr.aof")
}

/// The bytes of every file `manifest` lists.
fn listed_bytes(aof_dir: &Path, manifest: &Manifest) -> u64 {
    manifest
        .base
        .iter()
        .chain(&manifest.incrs)
        .filter_map(|l| std::fs::metadata(aof_dir.join(&l.name)).ok())
        .map(|m| m.len())
        .sum()
}

/// Every live key of `store` as the commands that make it (a base written as commands): SET, RPUSH, SADD,
/// HSET or ZADD, at most [`ITEMS_PER_COMMAND`] elements each, then PEXPIREAT for a key with a deadline.
pub fn put_commands(out: &mut Vec<u8>, store: &Store, now: Instant, clock: &Clock) {
    store.for_each_value(now, |key, value, deadline| {
        match value {
            ValueRef::String(bytes) => encode_command(out, &[b"SET", key, bytes]),
            ValueRef::Collection(Collection::List(list)) => {
                let elements: Vec<&[u8]> = list.iter().collect();
                for chunk in elements.chunks(ITEMS_PER_COMMAND) {
                    let mut args: Vec<&[u8]> = vec![b"RPUSH", key];
                    args.extend_from_slice(chunk);
                    encode_command(out, &args);
                }
            }
            ValueRef::Collection(Collection::Set(set)) => {
                let members: Vec<_> = set.iter().collect();
                for chunk in members.chunks(ITEMS_PER_COMMAND) {
                    let mut args: Vec<&[u8]> = vec![b"SADD", key];
                    args.extend(chunk.iter().map(|m| &**m));
                    encode_command(out, &args);
                }
            }
            ValueRef::Collection(Collection::Hash(hash)) => {
                let pairs: Vec<(&[u8], &[u8])> = hash.iter().collect();
                for chunk in pairs.chunks(ITEMS_PER_COMMAND) {
                    let mut args: Vec<&[u8]> = vec![b"HSET", key];
                    for (field, value) in chunk {
                        args.push(field);
                        args.push(value);
                    }
                    encode_command(out, &args);
                }
            }
            ValueRef::Collection(Collection::ZSet(zset)) => {
                // Rust prints the shortest text that reads back as the same f64, and inf as "inf".
                let pairs: Vec<(String, &[u8])> =
                    zset.iter().map(|(m, s)| (s.to_string(), m)).collect();
                for chunk in pairs.chunks(ITEMS_PER_COMMAND) {
                    let mut args: Vec<&[u8]> = vec![b"ZADD", key];
                    for (score, member) in chunk {
                        args.push(score.as_bytes());
                        args.push(member);
                    }
                    encode_command(out, &args);
                }
            }
        }
        if let Some(nanos) = deadline {
            let ms = clock.unix_ms_of(from_nanos(nanos)).to_string();
            encode_command(out, &[b"PEXPIREAT", key, ms.as_bytes()]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::resp::store::Value;

    #[test]
    fn a_manifest_reads_as_redis_writes_it_and_renders_back() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.3.incr.aof seq 3 type i\n";
        let manifest = Manifest::parse(text).unwrap();
        assert_eq!(
            manifest.base.as_ref().unwrap().name,
            "appendonly.aof.2.base.rdb"
        );
        assert_eq!(manifest.incrs.len(), 2);
        assert_eq!(manifest.history.len(), 1);
        assert_eq!(manifest.next_seq(), 4);
        assert_eq!(Manifest::parse(&manifest.render()).unwrap(), manifest);
        for (bad, why) in [
            ("file a seq 1\n", "needs file, seq and type"),
            ("file a seq x type b\n", "seq is not a number"),
            ("file a seq 1 type q\n", "type is not"),
            ("file ../a seq 1 type b\n", "may not leave"),
            ("file a seq 2 type i\nfile b seq 1 type i\n", "out of order"),
            ("", "lists no base"),
        ] {
            let e = Manifest::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn scanning_hands_over_whole_transactions_and_reports_a_cut_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        encode_command(&mut bytes, &[b"SELECT", b"0"]);
        encode_command(&mut bytes, &[b"SET", b"a", b"1"]);
        encode_command(&mut bytes, &[b"MULTI"]);
        encode_command(&mut bytes, &[b"INCR", b"a"]);
        encode_command(&mut bytes, &[b"INCR", b"a"]);
        encode_command(&mut bytes, &[b"EXEC"]);
        let whole = bytes.len() as u64;
        // A transaction cut short, then a command cut short.
        encode_command(&mut bytes, &[b"MULTI"]);
        encode_command(&mut bytes, &[b"DEL", b"a"]);
        bytes.extend_from_slice(b"*2\r\n$3\r\nDEL");
        let path = write(dir.path(), "x.aof", &bytes);
        let mut seen = Vec::new();
        let scanned = scan(&path, |args| {
            seen.push(
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["SET a 1", "INCR a", "INCR a"]);
        assert_eq!(scanned.complete, whole);
        assert_eq!(scanned.cut, bytes.len() as u64 - whole);
        // Garbage is an error naming the byte.
        let path = write(dir.path(), "y.aof", b"*1\r\n$4\r\nPING\r\nhello\r\n");
        let e = scan(&path, |_| Ok(())).unwrap_err();
        assert!(e.contains("y.aof") && e.contains("byte 14"), "{e}");
        let path = write(dir.path(), "z.aof", b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n");
        assert!(scan(&path, |_| Ok(()))
            .unwrap_err()
            .contains("another database"));
    }

    #[test]
    fn a_plan_cuts_the_tail_of_the_last_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let aof_dir = dir.path().join(DIR_NAME);
        std::fs::create_dir(&aof_dir).unwrap();
        let mut base = Vec::new();
        encode_command(&mut base, &[b"SET", b"a", b"1"]);
        write(&aof_dir, "appendonly.aof.1.base.aof", &base);
        let mut incr = Vec::new();
        encode_command(&mut incr, &[b"SET", b"b", b"2"]);
        let whole = incr.len() as u64;
        incr.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nc");
        let incr_path = write(&aof_dir, "appendonly.aof.1.incr.aof", &incr);
        let manifest = "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        write(&aof_dir, "appendonly.aof.manifest", manifest.as_bytes());
        let plan = plan(dir.path(), true).unwrap().unwrap();
        assert!(plan.rdb_base.is_none());
        assert_eq!(plan.command_files.len(), 2);
        assert_eq!(std::fs::metadata(&incr_path).unwrap().len(), whole);
        // The same cut in the base is refused, and so is an unknown command.
        let mut cut_base = base.clone();
        cut_base.extend_from_slice(b"*1\r\n");
        write(&aof_dir, "appendonly.aof.1.base.aof", &cut_base);
        let e = super::plan(dir.path(), true).unwrap_err();
        assert!(e.contains("not the last file"), "{e}");
        let mut unknown = Vec::new();
        encode_command(&mut unknown, &[b"NOSUCH", b"x"]);
        write(&aof_dir, "appendonly.aof.1.base.aof", &unknown);
        let e = super::plan(dir.path(), true).unwrap_err();
        assert!(e.contains("unknown command 'NOSUCH'"), "{e}");
    }

    #[test]
    fn a_base_of_commands_rebuilds_every_type_with_its_deadline() {
        let mut store = Store::default();
        let clock = Clock::now();
        let now = clock.instant();
        store.put(
            b"s",
            Value::String(b"v".to_vec()),
            Some(now + Duration::from_secs(50)),
            now,
        );
        let mut out = Vec::new();
        put_commands(&mut out, &store, now, &clock);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("*3\r\n$3\r\nSET\r\n$1\r\ns\r\n$1\r\nv\r\n*3\r\n$9\r\nPEXPIREAT\r\n"),
            "{text}"
        );
        let at: i64 = text
            .trim_end()
            .rsplit("\r\n")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((at - clock.unix_ms() - 50_000).abs() < 1000);
    }
}
