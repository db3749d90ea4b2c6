//! Snapshots of the keyspace: one file holding every live key with its type, value and deadline, written
//! crash-safely and checked whole before a single key is loaded from it.
//!
//! The format (version 1, every integer little-endian):
//!
//! ```text
//! header   "PCSNAP\r\n"  version: u32  saved_at: i64 (Unix ms, when the save began)
//! record*  tag: u8 (the Kind 0-4; bit 7: a deadline follows)  [deadline: i64 Unix ms]
//!          key: u32 length + bytes
//!          value, by kind:  string  u32 length + bytes
//!                           hash    u32 count, then count × (field, value), each u32 length + bytes
//!                           list    u32 count, then count × element, head first
//!                           set     u32 count, then count × member
//!                           zset    u32 count, then count × (member, score: f64 bits)
//! trailer  0xFF  keys: u64  crc32c: u32 of every byte before it
//! ```
//!
//! Deadlines are absolute wall-clock times, as Redis stores them, so a key saved with 10 s left and loaded a
//! minute later is gone; values are written as their contents, and each collection takes the encoding its
//! size calls for when it is loaded. A file is usable only when its trailer is in place and the checksum of
//! everything before it matches: a truncated file has no trailer where its length says one must be, and a
//! flipped bit fails the checksum, so both are refused with the path and the reason before any key is loaded.
//!
//! Writing ([`Writer`]) goes to a temporary file in the snapshot's own directory, which is written, flushed
//! to the device, renamed over the snapshot and the directory flushed: until the rename the previous snapshot
//! is the one on disk, complete, and after it the new one is. A crash in between leaves only a temporary
//! file, which the next start removes ([`remove_stale_temporaries`]).
//!
//! Keys are read from the keyspace one part at a time ([`encode_part`]), each part locked only while its keys
//! are copied into the snapshot's bytes: a snapshot is consistent within each part and taken part after
//! part, not at one instant across parts (Redis's fork gives one instant; a shard here must never stop for
//! the whole keyspace).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::expiry::Clock;
use super::keyspace::{Keyspace, PARTS};
use super::store::{Store, Stored, Value};
use super::types::{list::End, Collection, Hash, Kind, List, Set, ZSet};

/// The snapshot's file name in `persistence.dir`.
pub const FILE_NAME: &str = "pincore.snapshot";
/// What the file starts with.
pub const MAGIC: &[u8; 8] = b"PCSNAP\r\n";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Magic, version, saved-at.
pub const HEADER_LEN: u64 = 8 + 4 + 8;
/// End tag, key count, checksum.
pub const TRAILER_LEN: u64 = 1 + 8 + 4;
const END: u8 = 0xFF;
const HAS_DEADLINE: u8 = 0x80;
/// Temporary files are named `.pincore.snapshot.tmp-<pid>-<n>`.
const TEMP_PREFIX: &str = ".pincore.snapshot.tmp-";

/// What a save wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Keys written (live ones: keys past their deadline are left out).
    pub keys: u64,
    /// The file's size.
    pub bytes: u64,
    /// When the save began, Unix milliseconds (the snapshot's `saved_at`).
    pub saved_at_ms: i64,
    /// How long the save took.
    pub took: Duration,
}

/// What a load read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadStats {
    /// Keys now in the keyspace from the snapshot.
    pub keys: u64,
    /// Keys in the snapshot whose deadline had passed by the load, left out.
    pub expired: u64,
    /// The file's size.
    pub bytes: u64,
    /// When the snapshot's save began, Unix milliseconds.
    pub saved_at_ms: i64,
    pub took: Duration,
}

/// A snapshot could not be written or read. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file system refused: a missing or unwritable directory, a full disk.
    #[error("snapshot {path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// The file is not a complete snapshot this build can read.
    #[error("snapshot {path} is unusable: {reason}")]
    Unusable { path: PathBuf, reason: String },
}

impl SnapshotError {
    fn io(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> SnapshotError {
        let path = path.to_path_buf();
        move |source| SnapshotError::Io {
            path,
            action,
            source,
        }
    }

    fn unusable(path: &Path, reason: impl Into<String>) -> SnapshotError {
        SnapshotError::Unusable {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// The snapshot file of directory `dir`.
pub fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Writes every live key of `keyspace` to `path`, crash-safely (see the module documentation), one part
/// locked at a time. Blocking: call it off the shards (at start-up or exit, or on a blocking pool).
pub fn save_snapshot(keyspace: &Keyspace, path: &Path) -> Result<SnapshotStats, SnapshotError> {
    let clock = Clock::now();
    let mut writer = Writer::create(path, clock.unix_ms())?;
    let mut bytes = Vec::new();
    for part in 0..PARTS {
        bytes.clear();
        let keys = encode_part(&keyspace.lock_part(part), &clock, &mut bytes);
        writer.write(&bytes, keys)?;
    }
    writer.finish()
}

/// Adds every key of the snapshot at `path` to `keyspace` (replacing keys of the same name), leaving out
/// keys whose deadline has passed. The whole file is checked first: a truncated, corrupt or foreign file
/// is refused with the reason and nothing is loaded. Blocking: call it before the shards serve, or on a
/// blocking pool.
pub fn load_snapshot(keyspace: &Keyspace, path: &Path) -> Result<LoadStats, SnapshotError> {
    let started = Instant::now();
    let mut file = File::open(path).map_err(SnapshotError::io(path, "open it"))?;
    let (saved_at_ms, len, keys) = verify(&mut file, path)?;
    file.seek(SeekFrom::Start(HEADER_LEN))
        .map_err(SnapshotError::io(path, "read it"))?;
    let body = len - HEADER_LEN - TRAILER_LEN;
    let mut records = Records {
        input: BufReader::with_capacity(1 << 20, file.take(body)),
        left: body,
        path,
    };
    let clock = Clock::now();
    let now_ms = clock.unix_ms();
    let mut stats = LoadStats {
        keys: 0,
        expired: 0,
        bytes: len,
        saved_at_ms,
        took: Duration::ZERO,
    };
    while records.left > 0 {
        let (key, value, deadline) = records.next()?;
        match deadline {
            Some(ms) if ms <= now_ms => stats.expired += 1,
            _ => {
                let at = deadline.map(|ms| clock.instant_at(ms));
                keyspace.lock(&key).put(&key, value, at, clock.instant());
                stats.keys += 1;
            }
        }
    }
    if stats.keys + stats.expired != keys {
        return Err(SnapshotError::unusable(
            path,
            format!(
                "it holds {} keys where its trailer says {keys}",
                stats.keys + stats.expired
            ),
        ));
    }
    stats.took = started.elapsed();
    Ok(stats)
}

/// Checks the header, the trailer and the checksum of the whole file: (saved_at, file length, keys).
fn verify(file: &mut File, path: &Path) -> Result<(i64, u64, u64), SnapshotError> {
    let read_error = SnapshotError::io(path, "read it");
    let len = file.metadata().map_err(read_error)?.len();
    let mut header = [0u8; HEADER_LEN as usize];
    let got = read_up_to(file, &mut header).map_err(SnapshotError::io(path, "read it"))?;
    if got < MAGIC.len() || &header[..MAGIC.len()] != MAGIC {
        return Err(SnapshotError::unusable(
            path,
            "it is not a pincore snapshot (no PCSNAP header)",
        ));
    }
    if len < HEADER_LEN + TRAILER_LEN {
        return Err(SnapshotError::unusable(
            path,
            format!("truncated: {len} bytes, shorter than an empty snapshot"),
        ));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(SnapshotError::unusable(
            path,
            format!("format version {version}; this build reads version {VERSION}"),
        ));
    }
    let saved_at_ms = i64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    // The checksum covers everything before its own four bytes.
    file.seek(SeekFrom::Start(0))
        .map_err(SnapshotError::io(path, "read it"))?;
    let mut crc = 0u32;
    let mut left = len - 4;
    let mut buffer = vec![0u8; 1 << 20];
    let mut tail = [0u8; TRAILER_LEN as usize];
    while left > 0 {
        let want = left.min(buffer.len() as u64) as usize;
        file.read_exact(&mut buffer[..want])
            .map_err(SnapshotError::io(path, "read it"))?;
        crc = crc32c::crc32c_append(crc, &buffer[..want]);
        // Keep the last bytes read: the trailer's tag and key count.
        keep_tail(&mut tail[..TRAILER_LEN as usize - 4], &buffer[..want]);
        left -= want as u64;
    }
    let mut stored = [0u8; 4];
    file.read_exact(&mut stored)
        .map_err(SnapshotError::io(path, "read it"))?;
    if tail[0] != END {
        return Err(SnapshotError::unusable(
            path,
            "truncated: it does not end with a snapshot trailer (a save cut short, or a partial copy)",
        ));
    }
    if u32::from_le_bytes(stored) != crc {
        return Err(SnapshotError::unusable(
            path,
            format!(
                "corrupt: its checksum is {:08x}, its bytes sum to {crc:08x}",
                u32::from_le_bytes(stored)
            ),
        ));
    }
    let keys = u64::from_le_bytes(tail[1..9].try_into().expect("8 bytes"));
    Ok((saved_at_ms, len, keys))
}

/// Shifts `chunk`'s last bytes into `tail` (which keeps the last `tail.len()` bytes seen).
fn keep_tail(tail: &mut [u8], chunk: &[u8]) {
    let n = tail.len();
    if chunk.len() >= n {
        tail.copy_from_slice(&chunk[chunk.len() - n..]);
    } else {
        tail.copy_within(chunk.len().., 0);
        tail[n - chunk.len()..].copy_from_slice(chunk);
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The records of a checked file, read one at a time; every length is bounded by the bytes left, so even
/// a file that passed its checksum by accident cannot make a read allocate more than the file holds.
struct Records<'p, R> {
    input: R,
    left: u64,
    path: &'p Path,
}

impl<R: Read> Records<'_, R> {
    fn next(&mut self) -> Result<(Vec<u8>, Value, Option<i64>), SnapshotError> {
        let tag = self.u8()?;
        let deadline = if tag & HAS_DEADLINE != 0 {
            Some(self.u64()? as i64)
        } else {
            None
        };
        let key = self.bytes()?;
        let value = match tag & !HAS_DEADLINE {
            0 => Value::String(self.bytes()?),
            1 => {
                let mut hash = Hash::default();
                for _ in 0..self.u32()? {
                    let field = self.bytes()?;
                    hash.insert(&field, &self.bytes()?);
                }
                collection(hash)
            }
            2 => {
                let mut list = List::default();
                for _ in 0..self.u32()? {
                    list.push(End::Right, &self.bytes()?);
                }
                collection(list)
            }
            3 => {
                let mut set = Set::default();
                for _ in 0..self.u32()? {
                    set.insert(&self.bytes()?);
                }
                collection(set)
            }
            4 => {
                let mut zset = ZSet::default();
                for _ in 0..self.u32()? {
                    let member = self.bytes()?;
                    let score = f64::from_bits(self.u64()?);
                    if score.is_nan() {
                        return Err(self.bad("a sorted set member with a NaN score"));
                    }
                    zset.insert(&member, score);
                }
                collection(zset)
            }
            other => return Err(self.bad(&format!("a record of unknown type {other}"))),
        };
        Ok((key, value, deadline))
    }

    fn bad(&self, what: &str) -> SnapshotError {
        SnapshotError::unusable(
            self.path,
            format!("corrupt: {what}, {} bytes before its end", self.left),
        )
    }

    fn take(&mut self, n: u64) -> Result<(), SnapshotError> {
        if n > self.left {
            return Err(self.bad(&format!("a record of {n} bytes running past the end")));
        }
        self.left -= n;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        self.take(N as u64)?;
        let mut bytes = [0u8; N];
        self.input
            .read_exact(&mut bytes)
            .map_err(SnapshotError::io(self.path, "read it"))?;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, SnapshotError> {
        let len = self.u32()?;
        self.take(u64::from(len))?;
        let mut bytes = vec![0u8; len as usize];
        self.input
            .read_exact(&mut bytes)
            .map_err(SnapshotError::io(self.path, "read it"))?;
        Ok(bytes)
    }
}

fn collection(value: impl Into<Collection>) -> Value {
    Value::Collection(Box::new(value.into()))
}

/// Appends the records of every live key of `store` to `out` (see the module documentation for the
/// format), deadlines as Unix milliseconds by `clock`; returns how many keys. Runs under the part's lock:
/// it only copies bytes.
pub fn encode_part(store: &Store, clock: &Clock, out: &mut Vec<u8>) -> u64 {
    let mut keys = 0;
    store.for_each_live(clock.instant(), |key, value, deadline| {
        let kind = match &value {
            Stored::String(_) => Kind::String,
            Stored::Collection(c) => c.kind(),
        };
        match deadline {
            Some(at) => {
                out.push(kind as u8 | HAS_DEADLINE);
                out.extend_from_slice(&clock.unix_ms_of(at).to_le_bytes());
            }
            None => out.push(kind as u8),
        }
        put_bytes(out, key);
        match value {
            Stored::String(bytes) => put_bytes(out, bytes),
            Stored::Collection(Collection::Hash(hash)) => {
                put_len(out, hash.len());
                for (field, value) in hash.iter() {
                    put_bytes(out, field);
                    put_bytes(out, value);
                }
            }
            Stored::Collection(Collection::List(list)) => {
                put_len(out, list.len());
                list.iter().for_each(|element| put_bytes(out, element));
            }
            Stored::Collection(Collection::Set(set)) => {
                put_len(out, set.len());
                set.iter().for_each(|member| put_bytes(out, &member));
            }
            Stored::Collection(Collection::ZSet(zset)) => {
                put_len(out, zset.len());
                for (member, score) in zset.iter() {
                    put_bytes(out, member);
                    out.extend_from_slice(&score.to_bits().to_le_bytes());
                }
            }
        }
        keys += 1;
    });
    keys
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Values, keys and collections are bounded far below 4 GiB by the protocol's limits.
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A snapshot being written: records go to a temporary file beside the snapshot; [`Writer::finish`] makes
/// it the snapshot. Dropped unfinished, it removes the temporary file and the previous snapshot stays.
pub struct Writer {
    file: File,
    temp: PathBuf,
    path: PathBuf,
    crc: u32,
    keys: u64,
    bytes: u64,
    saved_at_ms: i64,
    started: Instant,
    finished: bool,
}

impl Writer {
    /// Starts a snapshot to replace `path`, saved at `saved_at_ms` (Unix milliseconds).
    pub fn create(path: &Path, saved_at_ms: i64) -> Result<Writer, SnapshotError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = directory_of(path);
        let temp = dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(SnapshotError::io(&temp, "create a temporary file for it"))?;
        let mut writer = Writer {
            file,
            temp,
            path: path.to_path_buf(),
            crc: 0,
            keys: 0,
            bytes: 0,
            saved_at_ms,
            started: Instant::now(),
            finished: false,
        };
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&saved_at_ms.to_le_bytes());
        writer.write(&header, 0)?;
        Ok(writer)
    }

    /// Appends encoded records ([`encode_part`]) holding `keys` keys.
    pub fn write(&mut self, records: &[u8], keys: u64) -> Result<(), SnapshotError> {
        self.file
            .write_all(records)
            .map_err(SnapshotError::io(&self.temp, "write it"))?;
        self.crc = crc32c::crc32c_append(self.crc, records);
        self.bytes += records.len() as u64;
        self.keys += keys;
        Ok(())
    }

    /// Writes the trailer, flushes the file to the device, renames it over the snapshot and flushes the
    /// directory: from here on the new snapshot is the one a start loads.
    pub fn finish(mut self) -> Result<SnapshotStats, SnapshotError> {
        let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
        trailer.push(END);
        trailer.extend_from_slice(&self.keys.to_le_bytes());
        let crc = crc32c::crc32c_append(self.crc, &trailer);
        trailer.extend_from_slice(&crc.to_le_bytes());
        self.file
            .write_all(&trailer)
            .map_err(SnapshotError::io(&self.temp, "write it"))?;
        self.bytes += trailer.len() as u64;
        self.file
            .sync_all()
            .map_err(SnapshotError::io(&self.temp, "flush it to disk"))?;
        std::fs::rename(&self.temp, &self.path).map_err(SnapshotError::io(
            &self.path,
            "rename the new snapshot over it",
        ))?;
        self.finished = true;
        let dir = directory_of(&self.path);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(SnapshotError::io(dir, "flush its directory to disk"))?;
        Ok(SnapshotStats {
            keys: self.keys,
            bytes: self.bytes,
            saved_at_ms: self.saved_at_ms,
            took: self.started.elapsed(),
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Removes temporary files of saves cut short (a crash, SIGKILL) from `dir`: those of processes that no
/// longer run. Returns how many.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        let running = pid.is_some_and(|pid| {
            pid == std::process::id() as i32
                || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        });
        if !running && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::builtin::resp::store::{SetCondition, SetTtl};

    fn sample(ks: &Keyspace, now: Instant) {
        let mut s = ks.lock(b"s");
        s.set(
            b"s",
            b"value",
            SetCondition::Always,
            SetTtl::At(now + Duration::from_secs(100)),
            now,
            false,
        );
        drop(s);
        ks.lock(b"h")
            .change::<Hash, _>(b"h", now, true, |h| {
                h.insert(b"f1", b"v1");
                h.insert(b"f2", b"v2");
            })
            .unwrap();
        ks.lock(b"l")
            .change::<List, _>(b"l", now, true, |l| {
                l.push(End::Right, b"a");
                l.push(End::Right, b"b");
            })
            .unwrap();
        ks.lock(b"z")
            .change::<ZSet, _>(b"z", now, true, |z| {
                z.insert(b"m", 1.5);
                z.insert(b"n", -3.0);
            })
            .unwrap();
        ks.lock(b"t")
            .change::<Set, _>(b"t", now, true, |s| {
                s.insert(b"1");
                s.insert(b"x");
            })
            .unwrap();
    }

    #[test]
    fn every_type_and_deadline_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = snapshot_path(dir.path());
        let ks = Keyspace::default();
        let now = Instant::now();
        sample(&ks, now);
        let saved = save_snapshot(&ks, &path).unwrap();
        assert_eq!(saved.keys, 5);
        assert_eq!(saved.bytes, std::fs::metadata(&path).unwrap().len());

        let back = Keyspace::default();
        let loaded = load_snapshot(&back, &path).unwrap();
        assert_eq!((loaded.keys, loaded.expired), (5, 0));
        let now = Instant::now();
        let ttl = back.lock(b"s").ttl(b"s", now).unwrap().unwrap();
        assert!((98_000..=100_000).contains(&ttl), "{ttl}");
        assert_eq!(back.lock(b"s").get(b"s", now), Ok(Some(&b"value"[..])));
        let mut h = back.lock(b"h");
        let h = h.read::<Hash>(b"h", now).unwrap().unwrap();
        assert_eq!(h.get(b"f2"), Some(&b"v2"[..]));
        let mut l = back.lock(b"l");
        let l: Vec<&[u8]> = l.read::<List>(b"l", now).unwrap().unwrap().iter().collect();
        assert_eq!(l, [&b"a"[..], b"b"]);
        let mut z = back.lock(b"z");
        let z = z.read::<ZSet>(b"z", now).unwrap().unwrap();
        assert_eq!((z.score(b"m"), z.score(b"n")), (Some(1.5), Some(-3.0)));
        let mut t = back.lock(b"t");
        let t = t.read::<Set>(b"t", now).unwrap().unwrap();
        assert!(t.contains(b"1") && t.contains(b"x") && t.len() == 2);
    }

    #[test]
    fn a_key_whose_deadline_passed_before_the_load_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = snapshot_path(dir.path());
        let ks = Keyspace::default();
        let now = Instant::now();
        ks.lock(b"short").set(
            b"short",
            b"v",
            SetCondition::Always,
            SetTtl::At(now + Duration::from_millis(30)),
            now,
            false,
        );
        ks.lock(b"long").set(
            b"long",
            b"v",
            SetCondition::Always,
            SetTtl::Clear,
            now,
            false,
        );
        assert_eq!(save_snapshot(&ks, &path).unwrap().keys, 2);
        std::thread::sleep(Duration::from_millis(60));
        let back = Keyspace::default();
        let loaded = load_snapshot(&back, &path).unwrap();
        assert_eq!((loaded.keys, loaded.expired), (1, 1));
        assert!(!back.lock(b"short").exists(b"short", Instant::now()));
    }

    #[test]
    fn a_truncated_or_corrupt_file_is_refused_and_nothing_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = snapshot_path(dir.path());
        let ks = Keyspace::default();
        sample(&ks, Instant::now());
        save_snapshot(&ks, &path).unwrap();
        let good = std::fs::read(&path).unwrap();

        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("cut", good[..good.len() - 20].to_vec(), "truncated"),
            ("empty", Vec::new(), "not a pincore snapshot"),
            (
                "header only",
                good[..HEADER_LEN as usize].to_vec(),
                "truncated",
            ),
            (
                "flipped",
                {
                    let mut b = good.clone();
                    b[HEADER_LEN as usize + 3] ^= 0x10;
                    b
                },
                "corrupt",
            ),
            (
                "foreign",
                b"REDIS0011 and more bytes here".to_vec(),
                "not a pincore snapshot",
            ),
        ];
        for (name, bytes, reason) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let back = Keyspace::default();
            let e = load_snapshot(&back, &path).unwrap_err().to_string();
            assert!(e.contains(&path.display().to_string()), "{name}: {e}");
            assert!(e.contains(reason), "{name}: {e}");
            assert!(back.is_empty(), "{name}: keys loaded");
        }
    }

    #[test]
    fn an_unfinished_save_leaves_the_previous_snapshot_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = snapshot_path(dir.path());
        let ks = Keyspace::default();
        sample(&ks, Instant::now());
        save_snapshot(&ks, &path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let mut writer = Writer::create(&path, 0).unwrap();
        writer.write(b"\x00partial", 1).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        drop(writer);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporaries_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // PID 0x7fff_fffe is above any pid_max the kernel allows.
        let dead = dir.path().join(format!("{TEMP_PREFIX}2147483646-0"));
        let live = dir
            .path()
            .join(format!("{TEMP_PREFIX}{}-9", std::process::id()));
        std::fs::write(&dead, b"x").unwrap();
        std::fs::write(&live, b"x").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 1);
        assert!(!dead.exists() && live.exists());
    }
}
