//! A shard's small cache of open files, so that a path requested again costs one `fstatat(2)` instead of
//! `openat2` + `fstat` + `close`, and its validators and dates are formatted once.
//!
//! Correctness on replacement: every hit is revalidated by `fstatat(root, path, AT_SYMLINK_NOFOLLOW)`, and
//! the entry is used only when the name still leads to the same inode with the same size, modification
//! and change times and mode (`ctime` also moves on `chmod`, so a file made unreadable is opened again
//! and refused). A file renamed over, rewritten in place, shrunk, grown or deleted is thus seen on the very
//! next request, exactly as without the cache. That check does not refuse symlinks on the way as
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` does, but it only ever confirms an inode that such an
//! `openat2` opened beneath the root: what is served is never anything the uncached path would not have
//! opened. Directory URLs (index files) are not cached.
//!
//! Bounds: at most [`CAPACITY`] descriptors per shard; the least recently used goes when a new one comes,
//! and entries unused for [`IDLE_SECS`] are dropped at the next lookup, so a deleted file's space is held
//! no longer than that while requests arrive (or until its path is asked for again).

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::rc::Rc;

use super::open::Opened;
use super::representation::{self, Meta};

/// Open files a shard keeps.
pub const CAPACITY: usize = 64;
/// An entry unused this long is closed.
pub const IDLE_SECS: i64 = 10;

/// An opened file with what its responses say about it, formatted once.
pub struct Entry {
    pub opened: Opened,
    pub etag: String,
    pub last_modified: String,
    pub content_type: &'static str,
}

impl Entry {
    /// The entry for a file just opened, its type read from `name`.
    pub fn new(opened: Opened, name: &[u8]) -> Entry {
        Entry {
            etag: opened.meta.etag(),
            last_modified: representation::http_date(opened.meta.mtime),
            content_type: representation::content_type(name),
            opened,
        }
    }
}

struct Slot {
    entry: Rc<Entry>,
    used: i64,
}

/// The cache, keyed by the path beneath the root.
#[derive(Default)]
pub struct FileCache {
    slots: HashMap<Vec<u8>, Slot>,
    swept: i64,
}

impl FileCache {
    /// The entry for `path` beneath the directory `root`, when one is cached and the name still leads to
    /// the same, unchanged file; a stale entry is dropped. `now` is the shard's clock in seconds.
    pub fn get(&mut self, root: RawFd, path: &[u8], now: i64) -> Option<Rc<Entry>> {
        if now - self.swept >= 1 {
            self.swept = now;
            self.slots.retain(|_, slot| now - slot.used < IDLE_SECS);
        }
        let slot = self.slots.get_mut(path)?;
        if identity_at(root, path) != Some(Identity::of(&slot.entry.opened.meta)) {
            self.slots.remove(path);
            return None;
        }
        slot.used = now;
        Some(slot.entry.clone())
    }

    /// Keeps `entry` for `path`, closing the least recently used when full.
    pub fn insert(&mut self, path: Vec<u8>, entry: Rc<Entry>, now: i64) {
        if self.slots.len() >= CAPACITY && !self.slots.contains_key(&path) {
            let oldest = self
                .slots
                .iter()
                .min_by_key(|(_, slot)| slot.used)
                .map(|(path, _)| path.clone());
            if let Some(oldest) = oldest {
                self.slots.remove(&oldest);
            }
        }
        self.slots.insert(path, Slot { entry, used: now });
    }

    /// Closes everything (the root changed).
    pub fn clear(&mut self) {
        self.slots.clear();
    }
}

/// What must not have changed for a cached descriptor to stand for the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    mode: u32,
}

impl Identity {
    fn of(meta: &Meta) -> Identity {
        Identity {
            dev: meta.dev,
            ino: meta.ino,
            size: meta.size,
            mtime: (meta.mtime, meta.mtime_nsec),
            ctime: (meta.ctime, meta.ctime_nsec),
            mode: meta.mode,
        }
    }
}

/// The identity of what `path` names beneath `dir` now (not following a final symlink).
fn identity_at(dir: RawFd, path: &[u8]) -> Option<Identity> {
    let name = CString::new(path).ok()?;
    // SAFETY: `stat` is plain data; all-zero is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated and `stat` writable, both valid for the call; the result is checked.
    let rc = unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            &mut stat,
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
        )
    };
    (rc == 0).then_some(Identity {
        dev: stat.st_dev,
        ino: stat.st_ino,
        size: stat.st_size as u64,
        mtime: (stat.st_mtime, stat.st_mtime_nsec),
        ctime: (stat.st_ctime, stat.st_ctime_nsec),
        mode: stat.st_mode,
    })
}
