//! Persistence of the keyspace in [`super::snapshot`]s: the `persistence` settings, loading the snapshot at
//! start-up, the saves SAVE, BGSAVE, the interval and shutdown make, and what INFO and LASTSAVE report of
//! them.
//!
//! A save from a shard ([`save_in_slices`]) never holds the shard or a keyspace part for long: it copies one
//! part at a time under that part's lock into a buffer, yields, and has the buffered bytes written by the
//! blocking pool ([`Context::spawn_blocking`]); the file is flushed to disk and renamed there too.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::aof_writer::{AofSettings, Fsync};
use super::expiry::Clock;
use super::keyspace::{Keyspace, PARTS};
use super::snapshot::{self, encode_part, SnapshotError, SnapshotStats, Writer};
use super::Resp;
use crate::framework::Context;

/// `services.resp.settings.persistence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersistenceSettings {
    /// The directory holding the snapshot (`pincore.snapshot`); none: the keyspace is kept in memory only.
    pub dir: Option<PathBuf>,
    /// How often a snapshot is written when keys changed since the last one ("30s", "5m", "1h"); none: only
    /// SAVE, BGSAVE and shutdown write one.
    pub interval: Option<String>,
    /// How many key changes since the last snapshot the interval's save waits for (Redis's `save <seconds>
    /// <changes>`); none: 1.
    pub min_changes: Option<u64>,
    /// Whether a drain (SIGTERM, SIGINT) ends with a snapshot; by default it does when `dir` is set.
    pub save_on_shutdown: Option<bool>,
    /// Microseconds each key adds to a save (Redis's `rdb-key-save-delay`): slows saves down on purpose, for
    /// tests of what a crash during a save leaves. 0 in production.
    pub key_save_delay_us: u64,
    /// Every write is also appended to an append-only file in `dir/appendonlydir` (Redis 7.0's layout, see
    /// `aof.rs`), which a start then loads instead of the snapshot. Needs `dir`.
    pub appendonly: bool,
    /// When appended writes reach the disk: `always` (before their replies go out), `everysec`, `no`.
    pub appendfsync: Fsync,
    /// A rewrite writes the new base as an RDB file (true, Redis's default) or as commands.
    pub aof_use_rdb_preamble: bool,
    /// The file is rewritten by itself once it grew by this many percent over its size after the last
    /// rewrite (0: never) ...
    pub auto_aof_rewrite_percentage: u64,
    /// ... and is at least this many bytes.
    pub auto_aof_rewrite_min_size: u64,
}

impl Default for PersistenceSettings {
    fn default() -> PersistenceSettings {
        PersistenceSettings {
            dir: None,
            interval: None,
            min_changes: None,
            save_on_shutdown: None,
            key_save_delay_us: 0,
            appendonly: false,
            appendfsync: Fsync::Everysec,
            aof_use_rdb_preamble: true,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
        }
    }
}

impl PersistenceSettings {
    /// What the append-only file is told.
    pub fn aof(&self) -> AofSettings {
        AofSettings {
            dir: self.dir.clone(),
            on: self.appendonly && self.dir.is_some(),
            fsync: self.appendfsync,
            rdb_preamble: self.aof_use_rdb_preamble,
            auto_percentage: self.auto_aof_rewrite_percentage,
            auto_min_size: self.auto_aof_rewrite_min_size,
        }
    }

    /// The snapshot file, when persistence is on.
    pub fn path(&self) -> Option<PathBuf> {
        self.dir.as_deref().map(snapshot::snapshot_path)
    }

    /// The periodic save's interval, when there is one (checked by [`PersistenceSettings::validate`]).
    pub fn interval(&self) -> Option<Duration> {
        self.interval
            .as_deref()
            .and_then(|text| humantime::parse_duration(text).ok())
    }

    /// The key changes an interval's save waits for.
    pub fn min_changes(&self) -> u64 {
        self.min_changes.unwrap_or(1)
    }

    pub fn save_on_shutdown(&self) -> bool {
        self.dir.is_some() && self.save_on_shutdown.unwrap_or(true)
    }

    /// What serde cannot check. The directory itself is checked when the server starts
    /// ([`check_directory`]), not here: a configuration is also validated on machines that will not run it.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(dir) = &self.dir {
            if !dir.is_absolute() {
                return Err(format!(
                    "persistence.dir {}: give an absolute path (a relative one would depend on where the server was started)",
                    dir.display()
                ));
            }
        }
        if let Some(text) = &self.interval {
            let interval = humantime::parse_duration(text).map_err(|e| {
                format!("persistence.interval {text:?}: {e}; give a duration such as \"30s\", \"5m\" or \"1h\"")
            })?;
            if interval < Duration::from_secs(1) {
                return Err(format!(
                    "persistence.interval {text:?}: at least 1s; remove it for no periodic snapshots"
                ));
            }
            if self.dir.is_none() {
                return Err(format!(
                    "persistence.interval {text:?} needs persistence.dir, the directory to write snapshots in"
                ));
            }
        }
        if self.min_changes.is_some() && self.interval.is_none() {
            return Err(
                "persistence.min_changes needs persistence.interval, how often a save is considered".into(),
            );
        }
        if self.appendonly && self.dir.is_none() {
            return Err(
                "persistence.appendonly needs persistence.dir, the directory the append-only file is written in"
                    .into(),
            );
        }
        if self.save_on_shutdown == Some(true) && self.dir.is_none() {
            return Err(
                "persistence.save_on_shutdown needs persistence.dir, the directory to write the snapshot in"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Checks at start-up that `dir` (persistence.dir) is a directory the server can write snapshots in, by
/// creating and removing a file there.
pub fn check_directory(dir: &Path) -> Result<(), String> {
    let key = "services.resp.settings.persistence.dir";
    match std::fs::metadata(dir) {
        Err(e) => {
            return Err(format!(
                "{key} {}: {e}; create the directory (writable by the user the server runs as) or change {key}",
                dir.display()
            ))
        }
        Ok(m) if !m.is_dir() => {
            return Err(format!(
                "{key} {}: not a directory; give the directory snapshots are written in",
                dir.display()
            ))
        }
        Ok(_) => {}
    }
    let probe = dir.join(format!(".pincore.probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            format!(
                "{key} {}: cannot write there ({e}); make it writable by the user the server runs as",
                dir.display()
            )
        })
}

/// The state of saves, shared by every shard: whether one runs, how the last ended, and how many writes
/// the keyspace has seen since the last snapshot.
#[derive(Debug)]
pub struct Saves {
    in_progress: AtomicBool,
    /// Unix seconds of the last successful save (or of the load or start, as Redis's LASTSAVE).
    last_save: AtomicI64,
    last_ok: AtomicBool,
    /// Seconds the last save took, -1 before the first.
    last_took: AtomicI64,
    /// Write commands run since the server started, counted per shard (see [`Saves::changed`]) and summed by
    /// [`Saves::dirty`]; `dirty_at_save` is what the sum was when the last successful save began.
    dirty: Box<[Slot]>,
    dirty_at_save: AtomicU64,
    /// Successful and failed saves since the server started.
    saves: AtomicU64,
    failures: AtomicU64,
    /// The keyspace went to a successor (an upgrade in place): the successor saves from now on.
    handed_over: AtomicBool,
}

/// One shard's count of writes, alone on its cache line: every write command adds to it, so a line shared
/// with another shard's count would move between their CPUs on every write.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot(AtomicU64);

impl Default for Saves {
    fn default() -> Saves {
        Saves {
            in_progress: AtomicBool::new(false),
            last_save: AtomicI64::new(unix_seconds()),
            last_ok: AtomicBool::new(true),
            last_took: AtomicI64::new(-1),
            dirty: (0..std::thread::available_parallelism().map_or(1, usize::from))
                .map(|_| Slot::default())
                .collect(),
            dirty_at_save: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            handed_over: AtomicBool::new(false),
            failures: AtomicU64::new(0),
        }
    }
}

fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What INFO's persistence section reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveStatus {
    pub in_progress: bool,
    pub last_save: i64,
    pub last_ok: bool,
    pub last_took: i64,
    pub changes_since_last_save: u64,
    pub saves: u64,
    pub failures: u64,
}

impl Saves {
    /// Claims the one save that may run at a time; false when one is running.
    pub fn begin(&self) -> bool {
        self.in_progress
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Ends the save [`Saves::begin`] claimed, begun when the write count was `dirty_then`.
    pub fn end(&self, outcome: &Result<SnapshotStats, SnapshotError>, dirty_then: u64) {
        match outcome {
            Ok(stats) => {
                self.last_save
                    .store(stats.saved_at_ms.div_euclid(1000), Ordering::Relaxed);
                self.last_took
                    .store(stats.took.as_secs() as i64, Ordering::Relaxed);
                self.dirty_at_save.store(dirty_then, Ordering::Relaxed);
                self.saves.fetch_add(1, Ordering::Relaxed);
                self.last_ok.store(true, Ordering::Relaxed);
            }
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.last_ok.store(false, Ordering::Relaxed);
            }
        }
        self.in_progress.store(false, Ordering::Release);
    }

    /// Gives up the save [`Saves::begin`] claimed without one having ended: it was never run, or its task
    /// was dropped (the connection closed during SAVE, the shard exited, a panic). Counted as failed when it
    /// had begun.
    pub fn abandon(&self, began: bool) {
        if began {
            self.failures.fetch_add(1, Ordering::Relaxed);
            self.last_ok.store(false, Ordering::Relaxed);
        }
        self.in_progress.store(false, Ordering::Release);
    }

    /// One write command ran on shard `shard`. Each shard counts in its own slot (one per CPU; shards beyond
    /// that share slots, which stays correct), so writes on different shards never touch one cache line.
    pub fn changed(&self, shard: usize) {
        self.dirty[shard % self.dirty.len()]
            .0
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Write commands run since the server started, all shards.
    pub fn dirty(&self) -> u64 {
        self.dirty
            .iter()
            .map(|slot| slot.0.load(Ordering::Relaxed))
            .sum()
    }

    /// The keyspace was written for a successor, which owns it (and the snapshot directory) from now on.
    pub fn handed_over(&self) {
        self.handed_over.store(true, Ordering::Release);
    }

    /// Whether [`Saves::handed_over`] was called: this process must not save the keyspace any more.
    pub fn was_handed_over(&self) -> bool {
        self.handed_over.load(Ordering::Acquire)
    }

    /// The keyspace was just loaded from a snapshot made at `saved_at_ms`: nothing has changed since.
    pub fn loaded(&self, saved_at_ms: i64) {
        self.last_save
            .store(saved_at_ms.div_euclid(1000), Ordering::Relaxed);
        self.dirty_at_save.store(self.dirty(), Ordering::Relaxed);
    }

    pub fn status(&self) -> SaveStatus {
        SaveStatus {
            in_progress: self.in_progress.load(Ordering::Acquire),
            last_save: self.last_save.load(Ordering::Relaxed),
            last_ok: self.last_ok.load(Ordering::Relaxed),
            last_took: self.last_took.load(Ordering::Relaxed),
            changes_since_last_save: self.dirty() - self.dirty_at_save.load(Ordering::Relaxed),
            saves: self.saves.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// Bytes gathered from the parts before the blocking pool writes them: few handoffs, little memory.
const SLICE_BYTES: usize = 1 << 20;

/// Saves `keyspace` to `path` from a shard without stalling it (see the module documentation); the caller
/// has claimed the save ([`Saves::begin`]). `key_delay` slows the write down per key, for tests.
pub async fn save_in_slices(
    ctx: &Context<Resp>,
    keyspace: &Keyspace,
    path: PathBuf,
    key_delay: Duration,
) -> Result<SnapshotStats, SnapshotError> {
    let clock = Clock::now();
    let saved_at_ms = clock.unix_ms();
    let mut writer = ctx
        .spawn_blocking(move || Writer::create(&path, saved_at_ms))
        .await?;
    let mut slice = Vec::with_capacity(SLICE_BYTES + SLICE_BYTES / 4);
    let mut keys = 0;
    for part in 0..PARTS {
        keys += encode_part(&keyspace.lock_part(part), &clock, &mut slice);
        if slice.len() >= SLICE_BYTES || part + 1 == PARTS {
            let bytes = std::mem::take(&mut slice);
            let n = std::mem::take(&mut keys);
            let (back, result) = ctx
                .spawn_blocking(move || {
                    let result = writer.write(&bytes, n);
                    if !key_delay.is_zero() {
                        std::thread::sleep(key_delay.saturating_mul(n as u32));
                    }
                    (writer, result.map(|()| bytes))
                })
                .await;
            writer = back;
            slice = result?;
            slice.clear();
        }
        glommio::yield_if_needed().await;
    }
    ctx.spawn_blocking(move || writer.finish()).await
}

/// Runs the save the caller claimed ([`Saves::begin`]) to `path` on this shard, logs its outcome and ends
/// it.
pub async fn run_save(
    ctx: &Context<Resp>,
    keyspace: &Keyspace,
    saves: &Saves,
    path: PathBuf,
    why: &'static str,
) -> Result<SnapshotStats, SnapshotError> {
    /// Ends the claim if this future is dropped before the save ends.
    struct Unfinished<'a>(Option<&'a Saves>);
    impl Drop for Unfinished<'_> {
        fn drop(&mut self) {
            if let Some(saves) = self.0 {
                saves.abandon(true);
            }
        }
    }
    let mut unfinished = Unfinished(Some(saves));
    let dirty_then = saves.dirty();
    let delay = Duration::from_micros(ctx.settings().persistence.key_save_delay_us);
    let outcome = save_in_slices(ctx, keyspace, path, delay).await;
    unfinished.0 = None;
    match &outcome {
        Ok(stats) => tracing::info!(
            why,
            keys = stats.keys,
            bytes = stats.bytes,
            took_ms = stats.took.as_millis() as u64,
            "snapshot saved"
        ),
        Err(e) => tracing::error!(why, error = %e, "snapshot failed"),
    }
    saves.end(&outcome, dirty_then);
    outcome
}

/// Shard 0's periodic save: every `persistence.interval`, a snapshot when keys changed since the last
/// one (as Redis's `save <seconds> 1`). The interval is read again each time (SIGHUP may change it).
pub async fn save_periodically(ctx: Context<Resp>, keyspace: Arc<Keyspace>, saves: Arc<Saves>) {
    while !ctx.exiting() {
        let settings = ctx.settings();
        let interval = settings.persistence.interval();
        glommio::timer::sleep(interval.unwrap_or(Duration::from_secs(1))).await;
        let Some(path) = settings.persistence.path().filter(|_| interval.is_some()) else {
            continue;
        };
        let changes = saves.status().changes_since_last_save;
        if ctx.draining() || changes < settings.persistence.min_changes() || !saves.begin() {
            continue;
        }
        // The outcome is logged and shown by INFO; the next interval tries again.
        let _ = run_save(&ctx, &keyspace, &saves, path, "interval").await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<PersistenceSettings, String> {
        let s: PersistenceSettings = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        s.validate().map(|()| s)
    }

    #[test]
    fn settings_are_checked_with_the_key_named() {
        let on = settings("{dir: /var/lib/pincore, interval: 5m}").unwrap();
        assert_eq!(on.interval(), Some(Duration::from_secs(300)));
        assert!(on.save_on_shutdown());
        assert!(!settings("{}").unwrap().save_on_shutdown());
        let off = settings("{dir: /d, save_on_shutdown: false}").unwrap();
        assert!(!off.save_on_shutdown());
        for (yaml, says) in [
            ("{dir: data}", "absolute path"),
            ("{dir: /d, interval: soon}", "persistence.interval \"soon\""),
            ("{dir: /d, interval: 10ms}", "at least 1s"),
            ("{interval: 5m}", "needs persistence.dir"),
            ("{save_on_shutdown: true}", "needs persistence.dir"),
            ("{dri: /d}", "unknown field"),
        ] {
            let e = settings(yaml).unwrap_err();
            assert!(e.contains(says), "{yaml}: {e}");
        }
    }

    #[test]
    fn a_missing_or_unusable_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_directory(dir.path()), Ok(()));
        let missing = dir.path().join("nope");
        let e = check_directory(&missing).unwrap_err();
        assert!(
            e.contains(&missing.display().to_string()) && e.contains("create"),
            "{e}"
        );
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let e = check_directory(&file).unwrap_err();
        assert!(e.contains("not a directory"), "{e}");
    }

    #[test]
    fn one_save_at_a_time_and_changes_count_from_the_last_good_one() {
        let saves = Saves::default();
        saves.changed(0);
        saves.changed(1);
        assert!(saves.begin());
        assert!(!saves.begin(), "a second save while one runs");
        let then = saves.dirty();
        assert_eq!(then, 2, "writes on two shards are summed");
        saves.changed(usize::MAX);
        let stats = SnapshotStats {
            keys: 1,
            bytes: 40,
            saved_at_ms: 1_700_000_000_500,
            took: Duration::ZERO,
        };
        saves.end(&Ok(stats), then);
        let status = saves.status();
        assert_eq!(
            (
                status.in_progress,
                status.last_save,
                status.changes_since_last_save
            ),
            (false, 1_700_000_000, 1)
        );
        assert!(saves.begin());
        let failed = Err(SnapshotError::Unusable {
            path: "/x".into(),
            reason: "test".into(),
        });
        saves.end(&failed, saves.dirty());
        let status = saves.status();
        assert!(!status.last_ok && status.changes_since_last_save == 1);
        assert_eq!((status.saves, status.failures), (1, 1));
        // A claim given up before its save ran counts as nothing; one dropped while running as failed.
        assert!(saves.begin());
        saves.abandon(false);
        assert!(saves.begin(), "free again");
        saves.abandon(true);
        assert_eq!(saves.status().failures, 2);
        assert!(!saves.status().in_progress);
    }
}
