//! The sizes at which a collection leaves its compact encoding: Redis 7.0's `hash-max-listpack-*`,
//! `set-max-intset-entries`, `zset-max-listpack-*` and the list settings, as the `resp` service's
//! `encodings` settings (and CONFIG SET/GET under Redis's names).
//!
//! The running values are process-wide (one `resp` service per process): every shard's collections read
//! them when they grow, and [`apply`] sets them at start and on each reload. As in Redis, a collection that
//! has left its compact form stays in the large one when the bounds are raised afterwards.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// `services.resp.settings.encodings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Encodings {
    /// A hash with more fields than this is a hash table (`hash-max-listpack-entries`, 512).
    pub hash_max_listpack_entries: usize,
    /// A hash with a field or value longer than this (bytes) is a hash table (`hash-max-listpack-value`, 64).
    pub hash_max_listpack_value: usize,
    /// A set of integers with more members than this is a hash table (`set-max-intset-entries`, 512).
    pub set_max_intset_entries: usize,
    /// A sorted set with more members than this is a skip list (`zset-max-listpack-entries`, 128).
    pub zset_max_listpack_entries: usize,
    /// A sorted set with a member longer than this (bytes) is a skip list (`zset-max-listpack-value`, 64).
    pub zset_max_listpack_value: usize,
    /// How much a list's node packs (`list-max-listpack-size`, -2): -1 to -5 bound it to 4, 8, 16, 32 or
    /// 64 KiB, a positive number to that many elements (within 8 KiB).
    pub list_max_listpack_size: i64,
    /// Redis's `list-compress-depth` (0). Accepted and reported; lists are never compressed here.
    pub list_compress_depth: usize,
}

impl Default for Encodings {
    fn default() -> Encodings {
        Encodings {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
        }
    }
}

/// The largest value a `*_value` bound may take: a compact collection's elements are searched linearly,
/// so a bound past this would only make every lookup slower (Redis takes any size).
pub const MAX_VALUE_BOUND: usize = 1 << 20;

impl Encodings {
    /// Checks the bounds, naming the one that is out of range.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("hash_max_listpack_value", self.hash_max_listpack_value),
            ("zset_max_listpack_value", self.zset_max_listpack_value),
        ] {
            if value > MAX_VALUE_BOUND {
                return Err(format!(
                    "encodings.{name}: {value} bytes is more than a compact collection may hold ({MAX_VALUE_BOUND}); give a smaller size (Redis's default is 64)"
                ));
            }
        }
        if self.list_compress_depth > i32::MAX as usize {
            return Err(format!(
                "encodings.list_compress_depth: {} is out of range (0 to {})",
                self.list_compress_depth,
                i32::MAX
            ));
        }
        Ok(())
    }
}

static HASH_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static HASH_VALUE: AtomicUsize = AtomicUsize::new(64);
static SET_INTS: AtomicUsize = AtomicUsize::new(512);
static ZSET_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static ZSET_VALUE: AtomicUsize = AtomicUsize::new(64);
static LIST_SIZE: AtomicI64 = AtomicI64::new(-2);
static LIST_DEPTH: AtomicUsize = AtomicUsize::new(0);

/// Makes `e` the running bounds.
pub fn apply(e: &Encodings) {
    HASH_ENTRIES.store(e.hash_max_listpack_entries, Ordering::Relaxed);
    HASH_VALUE.store(e.hash_max_listpack_value, Ordering::Relaxed);
    SET_INTS.store(e.set_max_intset_entries, Ordering::Relaxed);
    ZSET_ENTRIES.store(e.zset_max_listpack_entries, Ordering::Relaxed);
    ZSET_VALUE.store(e.zset_max_listpack_value, Ordering::Relaxed);
    LIST_SIZE.store(e.list_max_listpack_size, Ordering::Relaxed);
    LIST_DEPTH.store(e.list_compress_depth, Ordering::Relaxed);
}

/// The running bounds.
pub fn current() -> Encodings {
    Encodings {
        hash_max_listpack_entries: HASH_ENTRIES.load(Ordering::Relaxed),
        hash_max_listpack_value: HASH_VALUE.load(Ordering::Relaxed),
        set_max_intset_entries: SET_INTS.load(Ordering::Relaxed),
        zset_max_listpack_entries: ZSET_ENTRIES.load(Ordering::Relaxed),
        zset_max_listpack_value: ZSET_VALUE.load(Ordering::Relaxed),
        list_max_listpack_size: LIST_SIZE.load(Ordering::Relaxed),
        list_compress_depth: LIST_DEPTH.load(Ordering::Relaxed),
    }
}

/// (entries, value bytes) a compact hash may hold.
pub fn hash() -> (usize, usize) {
    (
        HASH_ENTRIES.load(Ordering::Relaxed),
        HASH_VALUE.load(Ordering::Relaxed),
    )
}

/// Members an intset may hold.
pub fn set_ints() -> usize {
    SET_INTS.load(Ordering::Relaxed)
}

/// (entries, member bytes) a compact sorted set may hold.
pub fn zset() -> (usize, usize) {
    (
        ZSET_ENTRIES.load(Ordering::Relaxed),
        ZSET_VALUE.load(Ordering::Relaxed),
    )
}

/// A list node's bound, from `list-max-listpack-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListNode {
    Bytes(usize),
    Entries(usize),
}

pub fn list_node() -> ListNode {
    match LIST_SIZE.load(Ordering::Relaxed) {
        // As Redis: -1 is 4 KiB, each step down doubles it, and past -5 it stays 64 KiB.
        size if size < 0 => ListNode::Bytes(4096 << (size.unsigned_abs().min(5) - 1)),
        size => ListNode::Entries(usize::try_from(size).unwrap_or(usize::MAX).max(1)),
    }
}
