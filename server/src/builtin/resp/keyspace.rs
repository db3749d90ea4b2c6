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
//! are atomic with respect to each other and no two of them can deadlock; EXEC locks every part of its whole
//! transaction the same way and runs its commands on the held parts ([`Parts::Held`]). Whole-keyspace work (FLUSHALL)
//! takes every part in order too; housekeeping (the expiry sweep, key counts for metrics) is divided by part:
//! shard `s` of `n` looks after the parts `i` with `i % n == s`.
//!
//! Memory is bounded by `maxmemory` ([`Keyspace::set_limit`]): each part counts its bytes
//! ([`Store::bytes`]), and a locked part ([`Part`]) adds what changed to one shared counter when it is
//! released, so the total costs a load to read and at most one relaxed atomic add per write. A write that may
//! grow memory first calls [`Keyspace::make_room`], which refuses it or evicts keys, as Redis's
//! `performEvictions` does.

use std::hash::BuildHasher;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::eviction::Policy;
use super::feed::Feed;
use super::pubsub::{class, PubSub};
use super::random::random_u64;
use super::scan::Cursor;
use super::store::{Store, Taken};
use super::waiters::Waiters;

/// Parts the keyspace is split into (a power of two): enough that two shards rarely want the same one, and
/// that one part's hash-table growth rehashes 1/256 of the keys.
pub const PARTS: usize = 256;

/// Keys one command may evict before it is refused with `-OOM` all the same: bounds the work a write does
/// (each eviction is a lock, a sample of five and a free, about a microsecond), while one write of a large
/// value over many small keys still frees its room.
pub const MAX_EVICTIONS_PER_COMMAND: usize = 256;

/// The whole keyspace, shared by every shard.
pub struct Keyspace {
    parts: Box<[Mutex<Store>]>,
    /// Chooses a key's part; keyed from OS randomness so a client cannot aim every key at one part.
    chooser: ahash::RandomState,
    /// The sum of every part's [`Store::bytes`], as of the last released lock.
    used: AtomicUsize,
    /// `maxmemory`: 0 is no bound.
    max_memory: AtomicUsize,
    /// The eviction policy, as its index in [`Policy::ALL`].
    policy: AtomicU8,
    /// Clients blocked on keys (BLPOP and the like), in arrival order per key.
    pub waiters: Waiters,
    /// Whether the background sweep deletes expired keys (DEBUG SET-ACTIVE-EXPIRE).
    active_expire: AtomicBool,
    /// Where the keyspace's own notifications go: keys that expired, were evicted or were made (a part
    /// records them while locked and publishes them when released, see [`Part`]).
    pubsub: std::sync::Arc<PubSub>,
    /// The replication feed: every effective write, appended under the parts of the keys it touched.
    pub feed: Feed,
}

impl Default for Keyspace {
    fn default() -> Keyspace {
        Keyspace::with_pubsub(Default::default())
    }
}

impl Keyspace {
    /// An empty keyspace publishing its keyspace notifications through `pubsub`.
    pub fn with_pubsub(pubsub: std::sync::Arc<PubSub>) -> Keyspace {
        Keyspace {
            parts: (0..PARTS).map(|_| Mutex::default()).collect(),
            chooser: ahash::RandomState::new(),
            used: AtomicUsize::new(0),
            max_memory: AtomicUsize::new(0),
            policy: AtomicU8::new(0),
            waiters: Waiters::default(),
            active_expire: AtomicBool::new(true),
            pubsub,
            feed: Feed::default(),
        }
    }
}

/// What [`Keyspace::make_room`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Keys evicted.
    pub evicted: usize,
    /// The write may run: under `maxmemory`, or brought under it.
    pub made: bool,
}

/// Redis's reply to a write refused by `maxmemory`, word for word.
pub const OOM: &[u8] = b"OOM command not allowed when used memory > 'maxmemory'.";

/// One part, locked; when released, the change in its bytes goes to the keyspace's total, the keyspace
/// notifications its store recorded are published and the keys it expired or evicted are propagated as DEL
/// (still under the lock, so they take their place in the feed before any later write of those keys).
pub struct Part<'a> {
    store: MutexGuard<'a, Store>,
    used: &'a AtomicUsize,
    bytes_before: usize,
    pubsub: &'a PubSub,
    feed: &'a Feed,
}

impl Deref for Part<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl DerefMut for Part<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

impl Drop for Part<'_> {
    fn drop(&mut self) {
        if !self.store.dropped.is_empty() {
            propagate_dropped(self.feed, &mut self.store);
        }
        if !self.store.notices.invalidated.is_empty() {
            let keys = std::mem::take(&mut self.store.notices.invalidated);
            self.pubsub.tracking.invalidate(keys, self.pubsub.limit());
        }
        if !self.store.notices.is_empty() {
            let flags = self.pubsub.events();
            for (class, key) in self.store.notices.take() {
                let event = match class {
                    class::EXPIRED => "expired",
                    class::EVICTED => "evicted",
                    _ => "new",
                };
                self.pubsub.notify_key(flags, class, event, &key);
            }
        }
        let now = self.store.bytes();
        if now > self.bytes_before {
            self.used
                .fetch_add(now - self.bytes_before, Ordering::Relaxed);
        } else if now < self.bytes_before {
            self.used
                .fetch_sub(self.bytes_before - now, Ordering::Relaxed);
        }
    }
}

/// Propagates the keys `store` expired or evicted on its own as DEL each (never in MULTI, as Redis), or
/// forgets them when nothing consumes the feed.
pub fn propagate_dropped(feed: &Feed, store: &mut Store) {
    let dropped = std::mem::take(&mut store.dropped);
    if feed.active() {
        feed.append_each(
            dropped
                .into_iter()
                .map(|key| vec![b"DEL".to_vec(), key.into_vec()]),
        );
    }
}

impl Keyspace {
    /// Turns the background expiry sweep on or off (DEBUG SET-ACTIVE-EXPIRE); expired keys are still
    /// removed when a command touches them.
    pub fn set_active_expire(&self, on: bool) {
        self.active_expire.store(on, Ordering::Relaxed);
    }

    /// Whether the background expiry sweep runs.
    pub fn active_expire(&self) -> bool {
        self.active_expire.load(Ordering::Relaxed)
    }

    /// Sets `maxmemory` (bytes, 0 for none) and the policy for when a write finds it exceeded.
    pub fn set_limit(&self, max_memory: usize, policy: Policy) {
        self.max_memory.store(max_memory, Ordering::Relaxed);
        let index = Policy::ALL.iter().position(|p| *p == policy).unwrap_or(0);
        self.policy.store(index as u8, Ordering::Relaxed);
    }

    /// (`maxmemory`, policy) as last set.
    pub fn limit(&self) -> (usize, Policy) {
        let policy = Policy::ALL
            .get(usize::from(self.policy.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or_default();
        (self.max_memory.load(Ordering::Relaxed), policy)
    }

    /// The bytes every key costs together (Redis's `used_memory`, for the keyspace).
    pub fn used_memory(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Before a write that may grow memory: when over `maxmemory`, evicts keys by the policy until under it
    /// (at most [`MAX_EVICTIONS_PER_COMMAND`]), or refuses the write under `noeviction` or when nothing
    /// more can go.
    pub fn make_room(&self, now: Instant) -> Room {
        let (max, policy) = self.limit();
        let mut room = Room {
            evicted: 0,
            made: true,
        };
        if max == 0 || self.used_memory() <= max {
            return room;
        }
        if policy == Policy::NoEviction {
            room.made = false;
            return room;
        }
        // A random part for each eviction; from a part with nothing to take, on to the next, so that after
        // every part in turn it is certain there is nothing left (a volatile policy with few keys with TTL).
        let mut part = random_part();
        let mut empty = 0;
        while self.used_memory() > max {
            if room.evicted == MAX_EVICTIONS_PER_COMMAND || empty == PARTS {
                room.made = false;
                break;
            }
            // The part is released at the end of the statement, adding what it freed to `used`.
            if self.lock_part(part).evict(policy, now) {
                room.evicted += 1;
                empty = 0;
                part = random_part();
            } else {
                empty += 1;
                part = (part + 1) % PARTS;
            }
        }
        room
    }

    /// The part holding `key`.
    pub fn part_of(&self, key: &[u8]) -> usize {
        // The top bits of a 64-bit hash: PARTS is 2^8.
        (self.chooser.hash_one(key) >> (64 - PARTS.trailing_zeros())) as usize
    }

    /// Sends BCAST tracking connections the keys written on this thread outside a command (the expiry
    /// sweep), as the end of a command does for its own (see [`super::tracking`]).
    pub fn broadcast_invalidations(&self) {
        if self.pubsub.raw_events() & super::tracking::TRACKING != 0 {
            self.pubsub.tracking.broadcast(self.pubsub.limit());
        }
    }

    /// The part holding `key`, locked.
    pub fn lock(&self, key: &[u8]) -> Part<'_> {
        self.lock_part(self.part_of(key))
    }

    /// Part `index`, locked. A panic while a part was held (a bug, never input) leaves its data as it was: the
    /// lock is taken anyway rather than failing every later command on that part.
    pub fn lock_part(&self, index: usize) -> Part<'_> {
        let mut store = self.parts[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        store.notices.want(self.pubsub.raw_events());
        Part {
            bytes_before: store.bytes(),
            store,
            used: &self.used,
            pubsub: &self.pubsub,
            feed: &self.feed,
        }
    }

    /// Every part holding one of `keys`, locked in ascending order (so multi-key commands are atomic and
    /// cannot deadlock each other).
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Locked<'_> {
        self.lock_parts(keys.into_iter().map(|k| self.part_of(k)).collect())
    }

    /// The parts `indexes` (in any order, repeats allowed), locked in ascending order.
    pub fn lock_parts(&self, mut indexes: Vec<usize>) -> Locked<'_> {
        indexes.sort_unstable();
        indexes.dedup();
        let guards = indexes.iter().map(|&i| self.lock_part(i)).collect();
        Locked {
            keyspace: self,
            indexes,
            guards,
        }
    }

    /// A key that has not expired (RANDOMKEY): from a random part, or the next one holding a key, so nil
    /// means the keyspace is empty. One part is locked at a time: like Redis's, the answer is any key.
    pub fn random_key(&self, now: Instant) -> Option<Vec<u8>> {
        let first = random_part();
        (0..PARTS).find_map(|i| self.lock_part((first + i) % PARTS).random_key(now))
    }

    /// One SCAN step from `cursor` (see [`super::scan`]): about `count` live keys and the cursor to continue
    /// from, 0 when every part has been walked. One part is locked at a time, for one pass over it; a step
    /// makes at most 16 passes over non-empty parts (empty ones are skipped at the cost of a lock), so the
    /// work stays near `count` keys.
    pub fn scan(&self, cursor: u64, count: usize, now: Instant) -> (Vec<Vec<u8>>, u64) {
        scan_parts(cursor, count, now, |i, f| f(&mut self.lock_part(i)))
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

    /// Keys deleted because their deadline passed, since the server started (INFO's expired_keys).
    pub fn expired(&self) -> u64 {
        let mut n = 0;
        self.for_each_part(|_, store| n += store.expired());
        n
    }

    /// Deletes every key atomically: every part is held while its table is swapped for an empty one, which
    /// takes microseconds. The old tables are freed on a thread of their own (Redis's lazy free), so neither
    /// the shard that ran FLUSHALL nor any other waits for a million `free`s, and that thread then gives the
    /// freed pages back to the kernel (glibc keeps them otherwise: RSS stayed at 125 MiB after flushing a
    /// million keys).
    pub fn flush(&self) {
        let taken: Vec<Taken> = {
            let mut all: Vec<Part<'_>> = (0..PARTS).map(|i| self.lock_part(i)).collect();
            all.iter_mut().map(|store| store.take_all()).collect()
        };
        free_flushed(taken);
    }

    /// The parts shard `shard` of `shards` looks after (sweeps, counts in its metrics).
    pub fn parts_of(shard: usize, shards: usize) -> impl Iterator<Item = usize> {
        (shard..PARTS).step_by(shards.max(1))
    }

    /// (keys, keys with a time to live, their bytes, keys some connection WATCHes) in the parts shard
    /// `shard` of `shards` looks after.
    pub fn counts_of(&self, shard: usize, shards: usize) -> (usize, usize, usize, usize) {
        Keyspace::parts_of(shard, shards).fold(
            (0, 0, 0, 0),
            |(keys, expiring, bytes, watched), i| {
                let store = self.lock_part(i);
                (
                    keys + store.len(),
                    expiring + store.expiring(),
                    bytes + store.bytes(),
                    watched + store.watchers.len(),
                )
            },
        )
    }
}

/// Several parts held at once (see [`Keyspace::lock_keys`]).
pub struct Locked<'a> {
    keyspace: &'a Keyspace,
    indexes: Vec<usize>,
    guards: Vec<Part<'a>>,
}

impl Locked<'_> {
    /// The held part that stores `key` (one of the keys the lock was taken for).
    pub fn store(&mut self, key: &[u8]) -> &mut Store {
        let at = self.position(key);
        &mut self.guards[at]
    }

    /// The held part that stores `key`, to read from (several at once, as set operations do).
    pub fn peek(&self, key: &[u8]) -> &Store {
        &self.guards[self.position(key)]
    }

    /// The held part that stores `key`, if it is held.
    pub fn try_store(&mut self, key: &[u8]) -> Option<&mut Store> {
        let part = self.keyspace.part_of(key);
        let at = self.indexes.binary_search(&part).ok()?;
        Some(&mut self.guards[at])
    }

    /// Calls `f` with every held part, in ascending order.
    pub fn for_each_store(&mut self, mut f: impl FnMut(&mut Store)) {
        for guard in &mut self.guards {
            f(guard);
        }
    }

    fn position(&self, key: &[u8]) -> usize {
        let part = self.keyspace.part_of(key);
        self.indexes
            .binary_search(&part)
            .expect("lock_keys holds the part of every key it was given")
    }
}

/// Parts a transaction holds while its commands run ([`Parts::Held`]). A trait object, so that a command's
/// [`Parts`] has one lifetime whatever the lock set borrows.
pub trait Holding {
    /// Held part `index`: EXEC holds every part its commands touch, so the command asks only for those.
    fn part(&mut self, index: usize) -> &mut Store;
    /// Held part `index`, to read from (several at once, as set operations do).
    fn peek(&self, index: usize) -> &Store;
}

impl Holding for Locked<'_> {
    fn part(&mut self, index: usize) -> &mut Store {
        let at = self.held_at(index);
        &mut self.guards[at]
    }

    fn peek(&self, index: usize) -> &Store {
        &self.guards[self.held_at(index)]
    }
}

impl Locked<'_> {
    fn held_at(&self, index: usize) -> usize {
        self.indexes
            .binary_search(&index)
            .expect("the lock set holds every part its holder reaches")
    }
}

/// Where a command gets the keyspace parts it works on.
pub enum Parts<'a> {
    /// Locked by the command for its own work: every command outside a transaction.
    Lock(&'a Keyspace),
    /// Already held by the transaction running the command (EXEC): every part its queued commands touch,
    /// all of them when one works on the whole keyspace.
    Held {
        keyspace: &'a Keyspace,
        held: &'a mut dyn Holding,
    },
}

/// One part for one command: its own lock, or the transaction's.
pub enum Guard<'a> {
    Own(Part<'a>),
    Held(&'a mut Store),
}

impl Deref for Guard<'_> {
    type Target = Store;
    #[inline]
    fn deref(&self) -> &Store {
        match self {
            Guard::Own(part) => part,
            Guard::Held(store) => store,
        }
    }
}

impl DerefMut for Guard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Store {
        match self {
            Guard::Own(part) => part,
            Guard::Held(store) => store,
        }
    }
}

/// The parts of several keys for one command (see [`Keyspace::lock_keys`]).
pub enum KeyParts<'a> {
    Own(Locked<'a>),
    Held {
        keyspace: &'a Keyspace,
        held: &'a mut dyn Holding,
    },
}

impl KeyParts<'_> {
    /// The part that stores `key` (one of the keys the parts were taken for).
    pub fn store(&mut self, key: &[u8]) -> &mut Store {
        match self {
            KeyParts::Own(locked) => locked.store(key),
            KeyParts::Held { keyspace, held } => held.part(keyspace.part_of(key)),
        }
    }

    /// The part that stores `key`, to read from (several at once, as set operations do).
    pub fn peek(&self, key: &[u8]) -> &Store {
        match self {
            KeyParts::Own(locked) => locked.peek(key),
            KeyParts::Held { keyspace, held } => held.peek(keyspace.part_of(key)),
        }
    }
}

impl<'a> Parts<'a> {
    pub fn keyspace(&self) -> &'a Keyspace {
        match self {
            Parts::Lock(keyspace) | Parts::Held { keyspace, .. } => keyspace,
        }
    }

    /// The part of `key`.
    #[inline]
    pub fn lock(&mut self, key: &[u8]) -> Guard<'_> {
        match self {
            Parts::Lock(keyspace) => Guard::Own(keyspace.lock(key)),
            Parts::Held { keyspace, held } => Guard::Held(held.part(keyspace.part_of(key))),
        }
    }

    /// The parts of `keys`, together (see [`Keyspace::lock_keys`]).
    pub fn lock_keys<'k>(&mut self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyParts<'_> {
        match self {
            Parts::Lock(keyspace) => KeyParts::Own(keyspace.lock_keys(keys)),
            Parts::Held { keyspace, held } => KeyParts::Held {
                keyspace,
                held: &mut **held,
            },
        }
    }

    /// See [`Keyspace::random_key`].
    pub fn random_key(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self {
            Parts::Lock(keyspace) => keyspace.random_key(now),
            Parts::Held { held, .. } => {
                let first = random_part();
                (0..PARTS).find_map(|i| held.part((first + i) % PARTS).random_key(now))
            }
        }
    }

    /// See [`Keyspace::scan`].
    pub fn scan(&mut self, cursor: u64, count: usize, now: Instant) -> (Vec<Vec<u8>>, u64) {
        match self {
            Parts::Lock(keyspace) => keyspace.scan(cursor, count, now),
            Parts::Held { held, .. } => scan_parts(cursor, count, now, |i, f| f(held.part(i))),
        }
    }

    /// See [`Keyspace::len`].
    pub fn key_count(&mut self) -> usize {
        match self {
            Parts::Lock(keyspace) => keyspace.len(),
            Parts::Held { held, .. } => (0..PARTS).map(|i| held.part(i).len()).sum(),
        }
    }

    /// See [`Keyspace::flush`].
    pub fn flush(&mut self) {
        match self {
            Parts::Lock(keyspace) => keyspace.flush(),
            Parts::Held { held, .. } => {
                free_flushed((0..PARTS).map(|i| held.part(i).take_all()).collect())
            }
        }
    }
}

/// SCAN's walk ([`Keyspace::scan`]) over the parts `with_part` lends, one at a time: each locked in turn,
/// or held by EXEC.
fn scan_parts(
    cursor: u64,
    count: usize,
    now: Instant,
    mut with_part: impl FnMut(usize, &mut dyn FnMut(&mut Store)),
) -> (Vec<Vec<u8>>, u64) {
    let mut at = Cursor::decode(cursor);
    let mut keys = Vec::new();
    let mut passes = 0;
    loop {
        let mut next = None;
        with_part(at.part, &mut |part: &mut Store| {
            if !part.is_empty() {
                passes += 1;
                next = part.scan(at.position, count - keys.len(), now, &mut keys);
            }
        });
        at = match next {
            Some(position) => Cursor {
                part: at.part,
                position,
            },
            None if at.part + 1 == PARTS => return (keys, 0),
            None => Cursor {
                part: at.part + 1,
                position: 0,
            },
        };
        if keys.len() >= count || passes == 16 {
            break;
        }
    }
    (keys, at.encode())
}

/// Frees the tables FLUSHALL took: small ones here, large ones on a thread of their own (see
/// [`Keyspace::flush`]).
fn free_flushed(taken: Vec<Taken>) {
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

/// A part chosen at random for an eviction, so shards evicting at once pick different parts.
fn random_part() -> usize {
    (random_u64() >> (64 - PARTS.trailing_zeros())) as usize
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
        assert_eq!(ks.lock(b"k7").get(b"k7", now), Ok(Some(&b"v"[..])));
        let (keys0, _, _, _) = ks.counts_of(0, 2);
        let (keys1, _, _, _) = ks.counts_of(1, 2);
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
        assert_eq!(
            ks.lock(b"shared").get(b"shared", now),
            Ok(Some(&b"2000"[..]))
        );
    }

    fn fill(ks: &Keyspace, n: usize, ttl: Option<Instant>, now: Instant) {
        for i in 0..n {
            let key = format!("key:{i}");
            let ttl = ttl.map_or(SetTtl::Clear, SetTtl::At);
            ks.lock(key.as_bytes()).set(
                key.as_bytes(),
                &[b'x'; 100],
                SetCondition::Always,
                ttl,
                now,
                false,
            );
        }
    }

    fn bytes_of_parts(ks: &Keyspace) -> usize {
        (0..2).map(|s| ks.counts_of(s, 2).2).sum()
    }

    #[test]
    fn used_memory_is_the_sum_of_the_parts_through_writes_deletes_and_flush() {
        let ks = Keyspace::default();
        let now = Instant::now();
        fill(&ks, 1000, None, now);
        assert!(ks.used_memory() > 1000 * 100);
        assert_eq!(ks.used_memory(), bytes_of_parts(&ks));
        let mut locked = ks.lock_keys([&b"key:1"[..], b"key:2"]);
        assert!(locked.store(b"key:1").delete(b"key:1", now));
        locked.store(b"key:2").set(
            b"key:2",
            b"",
            SetCondition::Always,
            SetTtl::Clear,
            now,
            false,
        );
        drop(locked);
        assert_eq!(ks.used_memory(), bytes_of_parts(&ks));
        ks.flush();
        assert_eq!(ks.used_memory(), 0);
    }

    #[test]
    fn over_the_limit_noeviction_refuses_and_a_policy_evicts_under_it() {
        let ks = Keyspace::default();
        let now = Instant::now();
        fill(&ks, 2000, None, now);
        let used = ks.used_memory();
        assert_eq!(
            ks.make_room(now),
            Room {
                evicted: 0,
                made: true
            },
            "no limit"
        );
        ks.set_limit(used / 2, Policy::NoEviction);
        assert_eq!(
            ks.make_room(now),
            Room {
                evicted: 0,
                made: false
            }
        );
        assert_eq!(ks.len(), 2000);

        ks.set_limit(used - used / 20, Policy::AllKeysRandom);
        let room = ks.make_room(now);
        assert!(room.made && room.evicted > 0, "{room:?}");
        assert!(ks.used_memory() <= used - used / 20);
        assert_eq!(ks.len(), 2000 - room.evicted);

        ks.set_limit(used / 2, Policy::AllKeysLru);
        let room = ks.make_room(now);
        assert_eq!(
            room,
            Room {
                evicted: MAX_EVICTIONS_PER_COMMAND,
                made: false
            },
            "bounded work"
        );
        assert_eq!(ks.used_memory(), bytes_of_parts(&ks));
    }

    #[test]
    fn a_scan_returns_every_key_present_throughout_while_tables_grow_and_shrink() {
        let ks = Keyspace::default();
        let now = Instant::now();
        fill(&ks, 2000, None, now);
        assert_eq!(
            Keyspace::default().scan(0, 10, now),
            (Vec::new(), 0),
            "empty: one call"
        );
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut added, mut steps) = (0, 0, 0);
        loop {
            let (keys, next) = ks.scan(cursor, 7, now);
            assert!(keys.len() <= 7 * 2 + 8, "{} keys in one step", keys.len());
            seen.extend(keys);
            // Grow every part several times over during the scan, and delete some of what was added.
            for _ in 0..30 {
                let key = format!("new:{added}");
                ks.lock(key.as_bytes()).set(
                    key.as_bytes(),
                    b"v",
                    SetCondition::Always,
                    SetTtl::Clear,
                    now,
                    false,
                );
                if added % 3 == 0 {
                    let old = format!("new:{}", added / 2);
                    ks.lock(old.as_bytes()).delete(old.as_bytes(), now);
                }
                added += 1;
            }
            steps += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
            assert!(steps < 100_000);
        }
        assert!(added > 4 * 2000, "{added}");
        for i in 0..2000 {
            assert!(
                seen.contains(format!("key:{i}").as_bytes()),
                "key:{i} missed"
            );
        }
    }

    #[test]
    fn a_volatile_policy_with_no_key_to_take_refuses() {
        let ks = Keyspace::default();
        let now = Instant::now();
        fill(&ks, 100, None, now);
        ks.set_limit(1, Policy::VolatileLru);
        assert_eq!(
            ks.make_room(now),
            Room {
                evicted: 0,
                made: false
            }
        );
        assert_eq!(ks.len(), 100);
        ks.lock(b"t").set(
            b"t",
            b"v",
            SetCondition::Always,
            SetTtl::At(now + std::time::Duration::from_secs(60)),
            now,
            false,
        );
        let room = ks.make_room(now);
        assert_eq!(
            (room.evicted, ks.len()),
            (1, 100),
            "only the key with a TTL goes"
        );
    }
}
