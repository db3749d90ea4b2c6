//! The keyspace every shard serves from: [`PARTS`] independently locked parts, each a [`Store`].
//!
//! Each shard executes the commands of its own connections directly, whatever shard the key would once have
//! belonged to: a request never crosses to another thread. Measured against forwarding over the channel mesh
//! (redis-benchmark GET on 2 shards), a forwarded request cost about 2× the CPU of a local one, while an
//! uncontended lock costs tens of nanoseconds; the parts keep two shards from contending unless they touch the
//! same part at the same instant, and a part's lock is held only for the command's own work (never across an
//! await), so no shard waits long on another.
//!
//! Commands on several keys (MGET, MSET, DEL, EXISTS) lock every part they touch in ascending order, so they
//! are atomic with respect to each other and no two of them can deadlock. Whole-keyspace work (FLUSHALL)
//! takes every part in order too; housekeeping (the expiry sweep, key counts for metrics) is divided by part:
//! shard `s` of `n` looks after the parts `i` with `i % n == s`.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use super::store::{Store, Taken};

/// Parts the keyspace is split into (a power of two): enough that two shards rarely want the same one, and
/// that one part's hash-table growth rehashes 1/256 of the keys.
pub const PARTS: usize = 256;

/// The whole keyspace, shared by every shard.
pub struct Keyspace {
    parts: Box<[Mutex<Store>]>,
    /// Chooses a key's part; keyed from OS randomness so a client cannot aim every key at one part.
    chooser: ahash::RandomState,
}

impl Default for Keyspace {
    fn default() -> Keyspace {
        Keyspace {
            parts: (0..PARTS).map(|_| Mutex::default()).collect(),
            chooser: ahash::RandomState::new(),
        }
    }
}

impl Keyspace {
    /// The part holding `key`.
    pub fn part_of(&self, key: &[u8]) -> usize {
        // The top bits of a 64-bit hash: PARTS is 2^8.
        (self.chooser.hash_one(key) >> (64 - PARTS.trailing_zeros())) as usize
    }

    /// The part holding `key`, locked.
    pub fn lock(&self, key: &[u8]) -> MutexGuard<'_, Store> {
        self.lock_part(self.part_of(key))
    }

    /// Part `index`, locked. A panic while a part was held (a bug, never input) leaves its data as it was: the
    /// lock is taken anyway rather than failing every later command on that part.
    pub fn lock_part(&self, index: usize) -> MutexGuard<'_, Store> {
        self.parts[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every part holding one of `keys`, locked in ascending order (so multi-key commands are atomic and
    /// cannot deadlock each other).
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Locked<'_> {
        let mut indexes: Vec<usize> = keys.into_iter().map(|k| self.part_of(k)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let guards = indexes.iter().map(|&i| self.lock_part(i)).collect();
        Locked {
            keyspace: self,
            indexes,
            guards,
        }
    }

    /// Calls `f` on every part in ascending order, each locked while `f` runs on it.
    pub fn for_each_part(&self, mut f: impl FnMut(usize, &mut Store)) {
        for i in 0..PARTS {
            f(i, &mut self.lock_part(i));
        }
    }

    /// Every key, counting expired keys not yet swept (as Redis's DBSIZE does).
    pub fn len(&self) -> usize {
        let mut n = 0;
        self.for_each_part(|_, store| n += store.len());
        n
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deletes every key atomically: every part is held while its table is swapped for an empty one, which
    /// takes microseconds. The old tables are freed on a thread of their own (Redis's lazy free), so neither
    /// the shard that ran FLUSHALL nor any other waits for a million `free`s, and that thread then gives the
    /// freed pages back to the kernel (glibc keeps them otherwise: RSS stayed at 125 MiB after flushing a
    /// million keys).
    pub fn flush(&self) {
        let taken: Vec<Taken> = {
            let mut all: Vec<MutexGuard<'_, Store>> =
                (0..PARTS).map(|i| self.lock_part(i)).collect();
            all.iter_mut().map(|store| store.take_all()).collect()
        };
        let keys: usize = taken.iter().map(Taken::len).sum();
        if taken.iter().all(Taken::is_empty) {
            return;
        }
        // Small flushes are freed here; a thread costs more than a few thousand frees.
        if keys < 4096 {
            drop(taken);
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("pincore-lazyfree".into())
            .spawn(move || {
                drop(taken);
                release_free_memory();
            });
        if let Err(e) = spawned {
            // No thread (process limit): the keys are gone all the same; they are freed here instead.
            tracing::warn!(error = %e, keys, "cannot start a thread to free flushed keys; freeing them inline");
        }
    }

    /// The parts shard `shard` of `shards` looks after (sweeps, counts in its metrics).
    pub fn parts_of(shard: usize, shards: usize) -> impl Iterator<Item = usize> {
        (shard..PARTS).step_by(shards.max(1))
    }

    /// (keys, keys with a time to live) in the parts shard `shard` of `shards` looks after.
    pub fn counts_of(&self, shard: usize, shards: usize) -> (usize, usize) {
        Keyspace::parts_of(shard, shards).fold((0, 0), |(keys, expiring), i| {
            let store = self.lock_part(i);
            (keys + store.len(), expiring + store.expiring())
        })
    }
}

/// Several parts held at once (see [`Keyspace::lock_keys`]).
pub struct Locked<'a> {
    keyspace: &'a Keyspace,
    indexes: Vec<usize>,
    guards: Vec<MutexGuard<'a, Store>>,
}

impl Locked<'_> {
    /// The held part that stores `key` (one of the keys the lock was taken for).
    pub fn store(&mut self, key: &[u8]) -> &mut Store {
        let part = self.keyspace.part_of(key);
        let at = self
            .indexes
            .binary_search(&part)
            .expect("lock_keys holds the part of every key it was given");
        &mut self.guards[at]
    }
}

/// Returns free heap pages of every malloc arena to the kernel.
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use crate::builtin::resp::store::{SetCondition, SetTtl};

    #[test]
    fn keys_spread_over_parts_and_every_shard_looks_after_a_share() {
        let ks = Keyspace::default();
        let mut used = std::collections::HashSet::new();
        for i in 0..10_000 {
            used.insert(ks.part_of(format!("key:{i}").as_bytes()));
        }
        assert!(used.len() > PARTS * 9 / 10, "{} parts used", used.len());
        let mut seen: Vec<usize> = (0..3).flat_map(|s| Keyspace::parts_of(s, 3)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..PARTS).collect::<Vec<_>>());
    }

    #[test]
    fn several_keys_lock_their_parts_once_and_in_order() {
        let ks = Keyspace::default();
        let now = Instant::now();
        let keys: Vec<Vec<u8>> = (0..50).map(|i| format!("k{i}").into_bytes()).collect();
        {
            let mut locked = ks.lock_keys(keys.iter().map(Vec::as_slice).chain([&b"k0"[..]]));
            assert!(locked.indexes.windows(2).all(|w| w[0] < w[1]));
            for k in &keys {
                locked
                    .store(k)
                    .set(k, b"v", SetCondition::Always, SetTtl::Clear, now, false);
            }
        }
        assert_eq!(ks.len(), 50);
        assert_eq!(ks.lock(b"k7").get(b"k7", now), Some(&b"v"[..]));
        let (keys0, _) = ks.counts_of(0, 2);
        let (keys1, _) = ks.counts_of(1, 2);
        assert_eq!(keys0 + keys1, 50);
        ks.flush();
        assert_eq!(ks.len(), 0);
    }

    #[test]
    fn shards_on_other_threads_see_each_others_writes() {
        let ks = std::sync::Arc::new(Keyspace::default());
        let now = Instant::now();
        let writers: Vec<_> = (0..2)
            .map(|t| {
                let ks = ks.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let key = format!("t{t}:{i}");
                        let mut locked = ks.lock_keys([key.as_bytes(), &b"shared"[..]]);
                        locked.store(key.as_bytes()).set(
                            key.as_bytes(),
                            b"x",
                            SetCondition::Always,
                            SetTtl::Clear,
                            now,
                            false,
                        );
                        let counter = locked.store(b"shared");
                        counter.incr_by(b"shared", 1, now).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(ks.len(), 2001);
        assert_eq!(ks.lock(b"shared").get(b"shared", now), Some(&b"2000"[..]));
    }
}
