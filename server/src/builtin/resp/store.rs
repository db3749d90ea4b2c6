//! One part of the keyspace (see [`super::keyspace`]): binary-safe keys and values with optional expiry.
//!
//! Keys expire lazily (a read of an expired key deletes it) and by a periodic sweep over an index ordered by
//! deadline, so memory held by expired keys that nobody reads is bounded by the sweep interval.
//!
//! Each key is one heap block holding its key, value, deadline and access record ([`Slot`]), and the table
//! holds an 8-byte pointer to it ([`super::thin::ThinBytes`]): per key that is one allocation and the table's share, where a map of `Vec`
//! key to `Vec` value costs two allocations and a 64-byte bucket. Memory per key is what a cache is sized by.
//!
//! A store counts the bytes it holds ([`Store::bytes`], see [`footprint`]) exactly as keys come and go, so
//! the keyspace can hold a `maxmemory` bound; when over it, [`Store::evict`] removes the key a Redis eviction
//! policy ([`Policy`]) picks among a few sampled ones.

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

pub use super::integer::parse_i64;

use super::eviction::{Access, Policy};
pub use super::heap::chunk;
use super::pubsub::class;
use super::scan;
use super::thin::{varint_len, ThinBytes};
use super::types::{Collection, Kind, Typed, WrongType};
use super::watchers::Watchers;

/// Keys are hashed with aHash, keyed per part from OS randomness: several times cheaper than std's SipHash on
/// short keys, and a client cannot precompute colliding keys.
type Hasher = ahash::RandomState;

/// Deadlines are kept as nanoseconds since this instant (8 bytes instead of an `Instant`'s 16).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn to_nanos(at: Instant) -> u64 {
    // u64 nanoseconds reach 584 years past the epoch; a later deadline is as good as never.
    u64::try_from(at.saturating_duration_since(*EPOCH).as_nanos()).unwrap_or(u64::MAX)
}

/// The instant of a deadline as [`Store::value_ref`] gives it.
pub fn from_nanos(nanos: u64) -> Instant {
    *EPOCH + Duration::from_nanos(nanos)
}

/// One key with its value, deadline and access record, in one allocation:
/// `[flags][access: 4 bytes LE][key length, LEB128][deadline: 8 bytes LE, if flags say so][key][value]`.
///
/// The flags say the value's [`Kind`]. A string's bytes are the value itself, so GET and SET read and
/// write one block as before; a collection's value is the address (six bytes, or eight) of its boxed [`Collection`],
/// which the slot owns and frees when dropped.
///
/// The access record is what LRU and LFU eviction judge by, in the 24 + 8 bits Redis gives them: the low 24
/// bits are the clock at the last write or read ([`clock`], seconds; it wraps after 194 days, as Redis's
/// does), the high 8 bits a logarithmic access counter ([`Access`]). Four bytes more per key (one glibc chunk
/// step of 16 bytes in four keys) buys eviction that keeps what is read.
struct Slot(ThinBytes);

const HAS_DEADLINE: u8 = 1;
/// The flag bits holding the value's [`Kind`] (0 is a string).
const KIND_SHIFT: u8 = 1;
const KIND_MASK: u8 = 0b1110;
/// The value was changed in place (APPEND, SETRANGE): OBJECT ENCODING says `raw` whatever its length.
const RAW: u8 = 0b1_0000;
/// The value was made as a string (INCRBYFLOAT): OBJECT ENCODING says `embstr` (or `raw`), never `int`.
const STRING: u8 = 0b10_0000;
/// Bytes before the key length: the flags and the access record.
const HEADER: usize = 1 + 4;

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(at) = self.collection_address() {
            // SAFETY: a slot with a collection kind owns the box whose address its value holds: made by
            // `Slot::with_collection` from `Box::into_raw`, and the kind is cleared whenever the address
            // moves to another slot (see `Slot::rebuild`), so it is freed exactly once.
            drop(unsafe { Box::from_raw(at) });
        }
    }
}

impl Slot {
    fn new(key: &[u8], value: &[u8], deadline: Option<u64>, access: Access) -> Slot {
        Slot::build(key, value, deadline, access, Kind::String)
    }

    /// A slot owning `collection`.
    fn with_collection(
        key: &[u8],
        collection: Box<Collection>,
        deadline: Option<u64>,
        access: Access,
    ) -> Slot {
        let kind = collection.kind();
        let address = (Box::into_raw(collection) as usize as u64).to_le_bytes();
        // A user-space address fits in 48 bits on the 64-bit machines this runs on: six bytes keep a
        // slot with a key of up to 13 bytes in a 32-byte block (eight when an address ever needs them).
        let len = if address[6..] == [0, 0] { 6 } else { 8 };
        Slot::build(key, &address[..len], deadline, access, kind)
    }

    fn build(key: &[u8], value: &[u8], deadline: Option<u64>, access: Access, kind: Kind) -> Slot {
        let deadline_bytes = if deadline.is_some() { 8 } else { 0 };
        let len = HEADER + varint_len(key.len()) + deadline_bytes + key.len() + value.len();
        let flags = if deadline.is_some() { HAS_DEADLINE } else { 0 };
        Slot(ThinBytes::build(len, |out| {
            let mut at = 0;
            let mut put = |bytes: &[u8]| {
                out[at..at + bytes.len()].copy_from_slice(bytes);
                at += bytes.len();
            };
            put(&[flags | (kind as u8) << KIND_SHIFT]);
            put(&access.0.to_le_bytes());
            let mut len = key.len();
            loop {
                let low = (len & 0x7f) as u8;
                len >>= 7;
                if len == 0 {
                    put(&[low]);
                    break;
                }
                put(&[low | 0x80]);
            }
            if let Some(nanos) = deadline {
                put(&nanos.to_le_bytes());
            }
            put(key);
            put(value);
        }))
    }

    /// (where the key starts, its length): after the flags, the length and the deadline.
    fn layout(&self) -> (usize, usize) {
        let b = &self.0;
        let mut len = 0usize;
        let mut i = HEADER;
        let mut shift = 0;
        loop {
            let byte = b[i];
            len |= usize::from(byte & 0x7f) << shift;
            i += 1;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        if b[0] & HAS_DEADLINE != 0 {
            i += 8;
        }
        (i, len)
    }

    fn kind(&self) -> Kind {
        Kind::from_bits((self.0[0] & KIND_MASK) >> KIND_SHIFT)
    }

    /// The address of the collection this slot owns, if its value is one.
    fn collection_address(&self) -> Option<*mut Collection> {
        if self.kind() == Kind::String {
            return None;
        }
        let value = self.value();
        let mut bytes = [0; 8];
        bytes.get_mut(..value.len())?.copy_from_slice(value);
        Some(u64::from_le_bytes(bytes) as usize as *mut Collection)
    }

    fn collection(&self) -> Option<&Collection> {
        // SAFETY: the slot owns the box (see `Drop`), and the borrow of `self` keeps it alive.
        self.collection_address().map(|at| unsafe { &*at })
    }

    fn collection_mut(&mut self) -> Option<&mut Collection> {
        // SAFETY: as in `collection`; `&mut self` makes this the only reference.
        self.collection_address().map(|at| unsafe { &mut *at })
    }

    /// Replaces this slot with one of the same kind and value bytes (a collection's ownership moves along).
    fn rebuild(&mut self, key: &[u8], value: &[u8], deadline: Option<u64>) {
        let mut new = Slot::build(key, value, deadline, self.access(), self.kind());
        new.0[0] |= self.0[0] & (RAW | STRING);
        // The old slot no longer owns the collection: the new one does.
        self.0[0] &= !KIND_MASK;
        *self = new;
    }

    fn key(&self) -> &[u8] {
        let (start, len) = self.layout();
        &self.0[start..start + len]
    }

    fn value(&self) -> &[u8] {
        let (start, len) = self.layout();
        &self.0[start + len..]
    }

    fn deadline(&self) -> Option<u64> {
        if self.0[0] & HAS_DEADLINE == 0 {
            return None;
        }
        let at = HEADER + self.0[HEADER..].iter().position(|b| b & 0x80 == 0)? + 1;
        let nanos: [u8; 8] = self.0[at..at + 8].try_into().ok()?;
        Some(u64::from_le_bytes(nanos))
    }

    fn expires_at(&self) -> Option<Instant> {
        self.deadline().map(from_nanos)
    }

    fn access(&self) -> Access {
        let bytes: [u8; 4] = [self.0[1], self.0[2], self.0[3], self.0[4]];
        Access(u32::from_le_bytes(bytes))
    }

    fn set_access(&mut self, access: Access) {
        self.0[1..HEADER].copy_from_slice(&access.0.to_le_bytes());
    }

    /// Replaces the value with a string, keeping key and deadline; in place when the length is unchanged. A
    /// collection it held is freed.
    fn set_value(&mut self, value: &[u8]) {
        let (start, len) = self.layout();
        if self.0.len() - start - len == value.len() && self.kind() == Kind::String {
            self.0[start + len..].copy_from_slice(value);
        } else {
            *self = Slot::new(self.key(), value, self.deadline(), self.access());
        }
    }

    fn set_deadline(&mut self, deadline: Option<u64>) {
        if self.deadline() == deadline {
            return;
        }
        if let (Some(nanos), true) = (deadline, self.0[0] & HAS_DEADLINE != 0) {
            let at = self.layout().0 - 8;
            self.0[at..at + 8].copy_from_slice(&nanos.to_le_bytes());
            return;
        }
        let (key, value) = (self.key().to_vec(), self.value().to_vec());
        self.rebuild(&key, &value, deadline);
    }
}

/// A key as OBJECT describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    pub encoding: Encoding,
    /// Seconds since the last read or write (OBJECT IDLETIME).
    pub idle_seconds: u32,
    /// The LFU counter, decayed to now (OBJECT FREQ).
    pub frequency: u8,
    /// An integer 0-9999, which Redis shares between keys unless an LRU or LFU policy is set.
    pub small_integer: bool,
    /// Where the value lives (DEBUG OBJECT's `at:`): the collection's box, or the slot holding the string.
    pub address: usize,
}

/// A live key's value, read in place (DEBUG DIGEST).
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    String(&'a [u8]),
    Collection(&'a Collection),
}

impl Slot {
    fn value_ref(&self) -> ValueRef<'_> {
        match self.collection() {
            Some(collection) => ValueRef::Collection(collection),
            None => ValueRef::String(self.value()),
        }
    }
}

/// How Redis would hold a string value, as OBJECT ENCODING names it (Redis's `tryObjectEncoding`): `int` for
/// a canonical 64-bit integer of at most 20 characters, `embstr` up to 44 bytes, `raw` beyond that or once
/// changed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Int,
    EmbStr,
    Raw,
    /// A collection's, as Redis 7.0 names it (`listpack`, `hashtable`, `quicklist`, `intset`, `skiplist`).
    Collection(&'static str),
}

impl Encoding {
    fn of(slot: &Slot) -> Encoding {
        if let Some(collection) = slot.collection() {
            return Encoding::Collection(collection.encoding());
        }
        let value = slot.value();
        if slot.0[0] & RAW != 0 {
            Encoding::Raw
        } else if value.len() <= 20 && slot.0[0] & STRING == 0 && parse_i64(value).is_some() {
            Encoding::Int
        } else if value.len() <= 44 {
            Encoding::EmbStr
        } else {
            Encoding::Raw
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Int => "int",
            Encoding::EmbStr => "embstr",
            Encoding::Raw => "raw",
            Encoding::Collection(name) => name,
        }
    }
}

/// Keys a policy compares before evicting one (Redis's `maxmemory-samples` default).
pub const SAMPLES: usize = 5;

/// The table's share of one key: an 8-byte pointer and a control byte per bucket, with buckets between 8/7
/// and 16/7 times the keys (hashbrown grows at 7/8 full and doubles): 10 to 21 bytes, 16 taken as typical.
const TABLE_SHARE: usize = 16;

/// A (deadline, key) entry of the expiry index: 40 bytes in a B-tree node of eleven, nodes about two
/// thirds full, so about 64 bytes, and the key's own copy.
const EXPIRY_SHARE: usize = 64;

/// The bytes a key costs: its block, its share of the table and, with a deadline, its index entry. This is
/// what [`Store::bytes`] adds up and `maxmemory` bounds; it leaves out what every process has (code,
/// connection buffers), as Redis's `used_memory` counts its allocations and not its RSS.
fn footprint(slot: &Slot) -> usize {
    let expiry = match slot.deadline() {
        Some(_) => EXPIRY_SHARE + chunk(slot.key().len()),
        None => 0,
    };
    let collection = slot.collection().map_or(0, Collection::bytes);
    chunk(slot.0.block_len()) + TABLE_SHARE + expiry + collection
}

/// The keys of one keyspace part. Whoever holds the part's lock touches it.
pub struct Store {
    map: HashTable<Slot>,
    hasher: Hasher,
    /// (deadline, key) for every key with a TTL; kept in step with `map`.
    expiries: BTreeSet<(Instant, Vec<u8>)>,
    /// The sum of [`footprint`] over `map`, kept in step with it.
    bytes: usize,
    /// xorshift64 state: LFU increments and eviction samples (not security: which key goes is no secret).
    random: u64,
    /// The connections WATCHing keys of this part; every change of a key below tells it.
    pub watchers: Watchers,
    /// Keys deleted because their deadline passed, lazily or by the sweep (INFO's expired_keys).
    expired: u64,
    /// The keyspace notifications the store itself causes, kept until the part is released.
    pub notices: Notices,
    /// Changes to keys made by commands (every [`Store::signal`], less the deletions the store makes on its
    /// own account): a write command that leaves it unchanged had no effect and is not propagated.
    pub changes: u64,
    /// Keys the store deleted on its own account (expired, lazily or by the sweep, or evicted), kept until
    /// the part is released, when they are propagated as DEL if the feed has a consumer
    /// ([`super::keyspace::Part`]). Pushed only on those deletions, so reads and writes pay nothing for it.
    pub dropped: Vec<Box<[u8]>>,
}

/// Keyspace notifications of what the store does on its own account, which no command's reply tells:
/// a key expired (lazily or by the sweep), was evicted, or was made anew (Redis's `expired`, `evicted` and
/// `new` events). Recorded only for the classes enabled when the part was locked, so with notifications
/// off nothing is kept; [`super::keyspace::Part`] publishes them when it releases the part.
#[derive(Default)]
pub struct Notices {
    wanted: u32,
    pending: Vec<(u32, Box<[u8]>)>,
    /// Some connection tracks keys (CLIENT TRACKING): every changed key is kept in `invalidated`.
    tracking: bool,
    /// Keys changed while the part was locked, for CLIENT TRACKING's invalidations.
    pub invalidated: Vec<Box<[u8]>>,
}

impl Notices {
    /// Records the classes among `flags` (`notify-keyspace-events`) that the store causes; none unless
    /// keyspace or keyevent notifications are on.
    pub fn want(&mut self, flags: u32) {
        self.tracking = flags & super::tracking::TRACKING != 0;
        let on = flags & (class::KEYSPACE | class::KEYEVENT) != 0;
        self.wanted = if on {
            flags & (class::EXPIRED | class::EVICTED | class::NEW)
        } else {
            0
        };
    }

    fn record(&mut self, class: u32, key: &[u8]) {
        if self.wanted & class != 0 {
            self.pending.push((class, key.into()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The recorded (class, key) pairs, in the order they happened.
    pub fn take(&mut self) -> Vec<(u32, Box<[u8]>)> {
        std::mem::take(&mut self.pending)
    }
}

impl Default for Store {
    fn default() -> Store {
        let hasher = Hasher::new();
        // Any odd seed works; the hasher's keys are random per store.
        let random = hasher.hash_one(0u64) | 1;
        Store {
            map: HashTable::new(),
            hasher,
            expiries: BTreeSet::new(),
            bytes: 0,
            random,
            watchers: Watchers::default(),
            expired: 0,
            notices: Notices::default(),
            changes: 0,
            dropped: Vec::new(),
        }
    }
}

/// The keys a store held, taken out by [`Store::take_all`]; freed on drop.
pub struct Taken {
    map: HashTable<Slot>,
    expiries: BTreeSet<(Instant, Vec<u8>)>,
}

impl Taken {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.expiries.is_empty()
    }
}

/// A key's value taken out of the store, or copied (RENAME, COPY).
pub enum Value {
    String(Vec<u8>),
    Collection(Box<Collection>),
}

/// A key's value lent out as it is stored ([`Store::for_each_live`]).
pub enum Stored<'a> {
    String(&'a [u8]),
    Collection(&'a Collection),
}

/// How SET treats an existing key and its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCondition {
    #[default]
    Always,
    /// NX: only when the key does not exist.
    IfAbsent,
    /// XX: only when the key exists.
    IfPresent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetTtl {
    /// Drop any TTL the key had.
    #[default]
    Clear,
    /// KEEPTTL.
    Keep,
    /// EX / PX.
    At(Instant),
}

/// Why an integer update failed, in Redis's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrError {
    NotAnInteger,
    WrongType,
    Overflow,
}

impl IncrError {
    pub fn message(self) -> &'static [u8] {
        match self {
            IncrError::NotAnInteger => b"ERR value is not an integer or out of range",
            IncrError::WrongType => WrongType::MESSAGE,
            IncrError::Overflow => b"ERR increment or decrement would overflow",
        }
    }
}

impl Store {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys this store deleted because their deadline passed, since it was made.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Keys that have a TTL.
    pub fn expiring(&self) -> usize {
        self.expiries.len()
    }

    /// The bytes the keys of this store cost (see [`footprint`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        x
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn slot(&self, key: &[u8]) -> Option<&Slot> {
        self.map.find(self.hash(key), |s| s.key() == key)
    }

    fn slot_mut(&mut self, key: &[u8]) -> Option<&mut Slot> {
        let hash = self.hash(key);
        self.map.find_mut(hash, |s| s.key() == key)
    }

    fn insert_new(&mut self, key: &[u8], value: &[u8], now: Instant) {
        self.notices.record(class::NEW, key);
        let slot = Slot::new(key, value, None, Access::new(now));
        self.bytes += footprint(&slot);
        let hasher = &self.hasher;
        self.map
            .insert_unique(hasher.hash_one(key), slot, |s| hasher.hash_one(s.key()));
        self.signal(key, true);
    }

    /// Tells the connections watching `key` that it changed (`present`: it exists afterwards).
    #[inline]
    fn signal(&mut self, key: &[u8], present: bool) {
        self.changes += 1;
        if !self.watchers.is_empty() {
            self.watchers.touch(key, present);
        }
        if self.notices.tracking {
            self.notices.invalidated.push(key.into());
        }
    }

    /// A deletion the store made on its own account (expiry, eviction): propagated as a DEL of its own, not
    /// counted as the effect of the command that happened to cause it.
    fn dropped_on_own(&mut self, key: &[u8]) {
        self.changes = self.changes.wrapping_sub(1);
        self.dropped.push(key.into());
    }

    /// Changes the slot of `key` (which exists) with `change`, keeping [`Store::bytes`] in step.
    fn update(&mut self, key: &[u8], change: impl FnOnce(&mut Slot)) {
        let hash = self.hasher.hash_one(key);
        if let Some(slot) = self.map.find_mut(hash, |s| s.key() == key) {
            let before = footprint(slot);
            change(slot);
            self.bytes = self.bytes - before + footprint(slot);
            self.signal(key, true);
        }
    }

    /// Writes `value` at `key`, creating it if absent (its access record starts anew either way).
    fn write(&mut self, key: &[u8], value: &[u8], now: Instant) {
        if self.slot(key).is_none() {
            return self.insert_new(key, value, now);
        }
        let random = self.next_random() as u32;
        self.update(key, |slot| {
            slot.0[0] &= !(RAW | STRING);
            slot.set_value(value);
            slot.set_access(slot.access().touched(now, random));
        });
    }

    /// Removes `key` if its deadline has passed; true if it is (still) present.
    fn live(&mut self, key: &[u8], now: Instant) -> bool {
        let expired = match self.slot(key) {
            None => return false,
            Some(slot) => slot.expires_at().is_some_and(|at| at <= now),
        };
        if expired {
            self.remove(key);
            self.expired += 1;
            self.notices.record(class::EXPIRED, key);
            self.dropped_on_own(key);
            return false;
        }
        true
    }

    fn remove(&mut self, key: &[u8]) -> Option<()> {
        let hash = self.hash(key);
        let (slot, _) = self.map.find_entry(hash, |s| s.key() == key).ok()?.remove();
        self.bytes -= footprint(&slot);
        if let Some(at) = slot.expires_at() {
            self.expiries.remove(&(at, key.to_vec()));
        }
        self.signal(key, false);
        Some(())
    }

    fn set_deadline(&mut self, key: &[u8], deadline: Option<Instant>) {
        let Some(slot) = self.slot(key) else {
            return;
        };
        let old = slot.expires_at();
        // Stored to the nanosecond since the epoch, and indexed by the same rounded instant.
        let deadline = deadline.map(to_nanos);
        if slot.deadline() == deadline {
            return;
        }
        self.update(key, |slot| slot.set_deadline(deadline));
        if let Some(old) = old {
            self.expiries.remove(&(old, key.to_vec()));
        }
        if let Some(nanos) = deadline {
            self.expiries.insert((from_nanos(nanos), key.to_vec()));
        }
    }

    /// The slot of a live `key`, counted as accessed for LRU and LFU.
    fn accessed(&mut self, key: &[u8], now: Instant) -> Option<&mut Slot> {
        if !self.live(key, now) {
            return None;
        }
        let random = self.next_random() as u32;
        let slot = self.slot_mut(key)?;
        slot.set_access(slot.access().touched(now, random));
        Some(slot)
    }

    /// GET: the string value, and the key counts as accessed for LRU and LFU; [`WrongType`] if the key
    /// holds a collection.
    pub fn get(&mut self, key: &[u8], now: Instant) -> Result<Option<&[u8]>, WrongType> {
        match self.accessed(key, now) {
            None => Ok(None),
            Some(slot) if slot.kind() == Kind::String => Ok(Some(slot.value())),
            Some(_) => Err(WrongType),
        }
    }

    /// TOUCH: true if `key` exists, whatever its kind, and it counts as accessed.
    pub fn touch(&mut self, key: &[u8], now: Instant) -> bool {
        self.accessed(key, now).is_some()
    }

    /// TYPE: the kind of value `key` holds.
    pub fn kind(&mut self, key: &[u8], now: Instant) -> Option<Kind> {
        if !self.live(key, now) {
            return None;
        }
        self.slot(key).map(Slot::kind)
    }

    /// The collection of kind `T` at `key` to read (it counts as accessed); `Ok(None)` if the key is missing.
    pub fn read<T: Typed>(&mut self, key: &[u8], now: Instant) -> Result<Option<&T>, WrongType> {
        match self.accessed(key, now) {
            None => Ok(None),
            Some(slot) => slot.collection().and_then(T::of).map(Some).ok_or(WrongType),
        }
    }

    /// The collection of kind `T` at `key` without judging its deadline or counting an access: for a caller
    /// that has just checked the key with [`Store::kind`] under the same lock and clock.
    pub fn peek<T: Typed>(&self, key: &[u8]) -> Option<&T> {
        self.slot(key)?.collection().and_then(T::of)
    }

    /// Runs `change` on the collection of kind `T` at `key`, made empty first when the key is missing and
    /// `create` (otherwise `Ok(None)`), keeping [`Store::bytes`] in step; a collection left empty deletes its
    /// key, as in Redis.
    pub fn change<T: Typed, R>(
        &mut self,
        key: &[u8],
        now: Instant,
        create: bool,
        change: impl FnOnce(&mut T) -> R,
    ) -> Result<Option<R>, WrongType> {
        if !self.live(key, now) {
            if !create {
                return Ok(None);
            }
            self.insert_collection(key, Box::new(T::default().into()), None, now);
        }
        let random = self.next_random() as u32;
        let hash = self.hash(key);
        let Some(slot) = self.map.find_mut(hash, |s| s.key() == key) else {
            return Ok(None);
        };
        let before = footprint(slot);
        let Some(collection) = slot.collection_mut().and_then(T::of_mut) else {
            return Err(WrongType);
        };
        let result = change(collection);
        let empty = collection.is_empty();
        slot.set_access(slot.access().touched(now, random));
        self.bytes = self.bytes - before + footprint(slot);
        if empty {
            self.remove(key);
        } else {
            // Whether or not `change` changed anything (HSETNX of a field that exists does not), the watchers
            // are told: a WATCH may abort an EXEC it need not have, never miss a change.
            self.signal(key, true);
        }
        Ok(Some(result))
    }

    fn insert_collection(
        &mut self,
        key: &[u8],
        collection: Box<Collection>,
        deadline: Option<Instant>,
        now: Instant,
    ) {
        let replaced = self.remove(key).is_some();
        self.add_collection(key, collection, deadline, now, replaced);
    }

    /// Adds `key`, which is not in the table, holding `collection`; a `new` key unless it `replaced` one.
    fn add_collection(
        &mut self,
        key: &[u8],
        collection: Box<Collection>,
        deadline: Option<Instant>,
        now: Instant,
        replaced: bool,
    ) {
        if !replaced {
            self.notices.record(class::NEW, key);
        }
        let slot = Slot::with_collection(key, collection, deadline.map(to_nanos), Access::new(now));
        self.bytes += footprint(&slot);
        if let Some(nanos) = slot.deadline() {
            self.expiries.insert((from_nanos(nanos), key.to_vec()));
        }
        let hasher = &self.hasher;
        self.map
            .insert_unique(hasher.hash_one(key), slot, |s| hasher.hash_one(s.key()));
        self.signal(key, true);
    }

    /// Replaces whatever `key` holds with `collection` (SINTERSTORE and the like), without a TTL.
    pub fn store_collection(&mut self, key: &[u8], collection: Collection, now: Instant) {
        let replaced = self.remove(key).is_some();
        if !collection.is_empty() {
            self.add_collection(key, Box::new(collection), None, now, replaced);
        }
    }

    /// SET: returns whether the value was stored, and the previous value when `want_old`.
    pub fn set(
        &mut self,
        key: &[u8],
        value: &[u8],
        condition: SetCondition,
        ttl: SetTtl,
        now: Instant,
        want_old: bool,
    ) -> (bool, Option<Vec<u8>>) {
        let exists = self.live(key, now);
        let allowed = match condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => !exists,
            SetCondition::IfPresent => exists,
        };
        let old = if want_old {
            self.slot(key)
                .filter(|s| s.kind() == Kind::String)
                .map(|s| s.value().to_vec())
        } else {
            None
        };
        if !allowed {
            return (false, old);
        }
        self.write(key, value, now);
        match ttl {
            SetTtl::Clear => self.set_deadline(key, None),
            SetTtl::Keep => {}
            SetTtl::At(at) => self.set_deadline(key, Some(at)),
        }
        (true, old)
    }

    pub fn delete(&mut self, key: &[u8], now: Instant) -> bool {
        self.live(key, now) && self.remove(key).is_some()
    }

    pub fn exists(&mut self, key: &[u8], now: Instant) -> bool {
        self.live(key, now)
    }

    /// Whether `key` is here but past its deadline (not yet deleted); changes nothing, as Redis's
    /// `keyIsExpired` (WATCH and EXEC judge watched keys by it).
    pub fn is_expired(&self, key: &[u8], now: Instant) -> bool {
        self.slot(key)
            .and_then(Slot::expires_at)
            .is_some_and(|at| at <= now)
    }

    /// The kind of `key` if it is here and not past its deadline, changing nothing (no access counted, no
    /// expired key deleted): for a command that reads many keys at once through shared borrows (SORT's BY
    /// and GET patterns), then reads each with [`Store::peek`] or [`Store::peek_string`].
    pub fn peek_kind(&self, key: &[u8], now: Instant) -> Option<Kind> {
        let slot = self.slot(key)?;
        slot.expires_at()
            .is_none_or(|at| at > now)
            .then(|| slot.kind())
    }

    /// The string value of `key` if it is here, not past its deadline and a string, changing nothing (see
    /// [`Store::peek_kind`]).
    pub fn peek_string(&self, key: &[u8], now: Instant) -> Option<&[u8]> {
        match self.peek_kind(key, now)? {
            Kind::String => self.slot(key).map(Slot::value),
            _ => None,
        }
    }

    /// INCRBY: adds `delta` to the integer stored at `key` (0 when absent), keeping its TTL.
    pub fn incr_by(&mut self, key: &[u8], delta: i64, now: Instant) -> Result<i64, IncrError> {
        let current = match self.get(key, now).map_err(|_| IncrError::WrongType)? {
            None => 0,
            Some(bytes) => parse_i64(bytes).ok_or(IncrError::NotAnInteger)?,
        };
        let next = current.checked_add(delta).ok_or(IncrError::Overflow)?;
        let mut text = itoa::Buffer::new();
        let text = text.format(next).as_bytes();
        self.write(key, text, now);
        Ok(next)
    }

    /// EXPIRE with an absolute deadline; a deadline not after `now` deletes the key. True if the key exists.
    pub fn expire_at(&mut self, key: &[u8], deadline: Option<Instant>, now: Instant) -> bool {
        if !self.live(key, now) {
            return false;
        }
        match deadline {
            Some(at) if at > now => self.set_deadline(key, Some(at)),
            _ => {
                self.remove(key);
            }
        }
        true
    }

    /// When `key` expires: `None` if it is missing, `Some(None)` if it has no TTL.
    pub fn expiry(&mut self, key: &[u8], now: Instant) -> Option<Option<Instant>> {
        if !self.live(key, now) {
            return None;
        }
        Some(self.slot(key)?.expires_at())
    }

    /// When `key` expires, without expiring it: `None` if it is missing (or past its deadline), `Some(None)`
    /// if it has no TTL (what a write left, for its propagation).
    pub fn deadline_of(&self, key: &[u8], now: Instant) -> Option<Option<Instant>> {
        let at = self.slot(key)?.expires_at();
        if at.is_some_and(|at| at <= now) {
            return None;
        }
        Some(at)
    }

    /// PERSIST: drops the TTL of `key`; true if it had one.
    pub fn persist(&mut self, key: &[u8], now: Instant) -> bool {
        if self.expiry(key, now).flatten().is_none() {
            return false;
        }
        self.set_deadline(key, None);
        true
    }

    /// Removes `key` and hands back its value and deadline (RENAME's source).
    pub fn take(&mut self, key: &[u8], now: Instant) -> Option<(Value, Option<Instant>)> {
        if !self.live(key, now) {
            return None;
        }
        let hash = self.hash(key);
        let (mut slot, _) = self.map.find_entry(hash, |s| s.key() == key).ok()?.remove();
        self.bytes -= footprint(&slot);
        self.signal(key, false);
        let deadline = slot.expires_at();
        if let Some(at) = deadline {
            self.expiries.remove(&(at, key.to_vec()));
        }
        let value = match slot.collection_address() {
            // SAFETY: the slot owned the box; clearing its kind hands the ownership to the returned value,
            // and the slot, dropped next, no longer frees it.
            Some(at) => {
                slot.0[0] &= !KIND_MASK;
                Value::Collection(unsafe { Box::from_raw(at) })
            }
            None => Value::String(slot.value().to_vec()),
        };
        Some((value, deadline))
    }

    /// GETDEL: removes a string key and hands back its value; a collection stays, [`WrongType`].
    pub fn take_string(&mut self, key: &[u8], now: Instant) -> Result<Option<Vec<u8>>, WrongType> {
        match self.kind(key, now) {
            None => Ok(None),
            Some(Kind::String) => Ok(self.take(key, now).and_then(|(value, _)| match value {
                Value::String(bytes) => Some(bytes),
                Value::Collection(_) => None,
            })),
            Some(_) => Err(WrongType),
        }
    }

    /// A copy of the value at `key` and its deadline (COPY's source).
    pub fn copy_of(&mut self, key: &[u8], now: Instant) -> Option<(Value, Option<Instant>)> {
        if !self.live(key, now) {
            return None;
        }
        let slot = self.slot(key)?;
        let value = match slot.collection() {
            Some(collection) => Value::Collection(Box::new(collection.clone())),
            None => Value::String(slot.value().to_vec()),
        };
        Some((value, slot.expires_at()))
    }

    /// Writes `key` anew with `value` and `deadline`, replacing any key of that name (RENAME's and COPY's
    /// destination).
    pub fn put(&mut self, key: &[u8], value: Value, deadline: Option<Instant>, now: Instant) {
        // Deleted and added, as Redis's RENAME, COPY and RESTORE do: a `new` key either way.
        self.remove(key);
        match value {
            Value::String(bytes) => {
                let ttl = deadline.map_or(SetTtl::Clear, SetTtl::At);
                self.set(key, &bytes, SetCondition::Always, ttl, now, false);
            }
            Value::Collection(collection) => self.insert_collection(key, collection, deadline, now),
        }
    }

    /// A key at a random place of the table that has not expired (RANDOMKEY); expired keys met on the way
    /// are deleted, as Redis's `dbRandomKey` does, a bounded number of them.
    pub fn random_key(&mut self, now: Instant) -> Option<Vec<u8>> {
        for _ in 0..SAMPLES * 4 {
            let start = self.next_random();
            let key = self.sample(start, false).first()?.key().to_vec();
            if self.live(&key, now) {
                return Some(key);
            }
        }
        None
    }

    /// One SCAN step over this part: the live keys whose hash position lies in the window from `from`
    /// (see [`super::scan::window`]), about `target` of them, appended to `keys`; where the next window
    /// starts, `None` after the last. Expired keys are left out (and left for the sweep).
    pub fn scan(
        &mut self,
        from: u64,
        target: usize,
        now: Instant,
        keys: &mut Vec<Vec<u8>>,
    ) -> Option<u64> {
        let items = self
            .map
            .iter()
            .map(|slot| (scan::position(self.hasher.hash_one(slot.key())), slot));
        let (chosen, next) = scan::window(items, self.map.len(), from, target);
        // Keys found past their deadline are deleted as they are met, as Redis's SCAN expires them lazily.
        let mut expired = Vec::new();
        for (_, slot) in chosen {
            if slot.expires_at().is_none_or(|at| at > now) {
                keys.push(slot.key().to_vec());
            } else {
                expired.push(slot.key().to_vec());
            }
        }
        for key in expired {
            self.live(&key, now);
        }
        next
    }

    /// Appends every live key `wanted` accepts to `keys` (KEYS), and returns the bytes of those keys.
    pub fn keys_matching(
        &self,
        wanted: impl Fn(&[u8]) -> bool,
        now: Instant,
        keys: &mut Vec<Vec<u8>>,
    ) -> usize {
        let mut bytes = 0;
        for slot in self.map.iter() {
            let key = slot.key();
            if slot.expires_at().is_none_or(|at| at > now) && wanted(key) {
                bytes += key.len();
                keys.push(key.to_vec());
            }
        }
        bytes
    }

    /// Calls `f` with every live key, its value as stored and its deadline, without counting accesses:
    /// what a snapshot writes (see [`super::snapshot`]). Keys past their deadline are left out.
    pub fn for_each_live(
        &self,
        now: Instant,
        mut f: impl FnMut(&[u8], Stored<'_>, Option<Instant>),
    ) {
        for slot in self.map.iter() {
            let deadline = slot.expires_at();
            if deadline.is_some_and(|at| at <= now) {
                continue;
            }
            let value = match slot.collection() {
                Some(collection) => Stored::Collection(collection),
                None => Stored::String(slot.value()),
            };
            f(slot.key(), value, deadline);
        }
    }

    /// What OBJECT reports about `key`, read without counting as an access. `None` if the key is missing.
    pub fn object(&mut self, key: &[u8], now: Instant) -> Option<Object> {
        if !self.live(key, now) {
            return None;
        }
        let slot = self.slot(key)?;
        let access = slot.access();
        let encoding = Encoding::of(slot);
        Some(Object {
            encoding,
            idle_seconds: access.idle(now),
            frequency: access.frequency(now),
            small_integer: encoding == Encoding::Int
                && parse_i64(slot.value()).is_some_and(|n| (0..10_000).contains(&n)),
            address: slot
                .collection_address()
                .map_or(slot.0.as_ptr() as usize, |at| at as usize),
        })
    }

    /// The bytes `key` costs, as `maxmemory` counts them (MEMORY USAGE); `None` if it is missing.
    pub fn usage(&mut self, key: &[u8], now: Instant) -> Option<usize> {
        if !self.live(key, now) {
            return None;
        }
        self.slot(key).map(footprint)
    }

    /// The value at `key` and its deadline (in the slot's own nanoseconds), if the key is live; read without
    /// counting as an access.
    pub fn value_ref(&self, key: &[u8], now: Instant) -> Option<(ValueRef<'_>, Option<u64>)> {
        let slot = self.slot(key)?;
        if slot.expires_at().is_some_and(|at| at <= now) {
            return None;
        }
        Some((slot.value_ref(), slot.deadline()))
    }

    /// Calls `f` with every live key, its value and its deadline (as [`Store::value_ref`]): what DEBUG DIGEST
    /// fingerprints.
    pub fn for_each_value(
        &self,
        now: Instant,
        mut f: impl FnMut(&[u8], ValueRef<'_>, Option<u64>),
    ) {
        for slot in self.map.iter() {
            if slot.expires_at().is_none_or(|at| at > now) {
                f(slot.key(), slot.value_ref(), slot.deadline());
            }
        }
    }

    /// Marks `key`'s value as modified in place (APPEND, SETRANGE), which Redis keeps as a `raw` string.
    pub fn mark_raw(&mut self, key: &[u8]) {
        if let Some(slot) = self.slot_mut(key) {
            slot.0[0] |= RAW;
        }
    }

    /// Marks `key`'s value as made as a string (INCRBYFLOAT), which Redis never encodes as `int`.
    pub fn mark_string(&mut self, key: &[u8]) {
        if let Some(slot) = self.slot_mut(key) {
            slot.0[0] |= STRING;
        }
    }

    /// Sets `key`'s access record as RESTORE's IDLETIME (seconds since the last access) or FREQ (the LFU
    /// counter) give it.
    pub fn set_access(
        &mut self,
        key: &[u8],
        idle: Option<u64>,
        frequency: Option<u8>,
        now: Instant,
    ) {
        if let Some(slot) = self.slot_mut(key) {
            slot.set_access(slot.access().restored(now, idle, frequency));
        }
    }

    /// Remaining time to live in milliseconds: `None` if the key is missing, `Some(None)` if it has no TTL.
    pub fn ttl(&mut self, key: &[u8], now: Instant) -> Option<Option<u128>> {
        if !self.live(key, now) {
            return None;
        }
        let slot = self.slot(key)?;
        Some(
            slot.expires_at()
                .map(|at| at.saturating_duration_since(now).as_millis()),
        )
    }

    /// Empties the store and hands back what it held, so the caller can free it outside the lock (freeing a
    /// million keys takes hundreds of milliseconds).
    #[must_use = "the taken keys are freed when dropped: drop them where a stall does not matter"]
    pub fn take_all(&mut self) -> Taken {
        if !self.watchers.is_empty() {
            let (map, hasher) = (&self.map, &self.hasher);
            self.watchers
                .touch_all(|key| map.find(hasher.hash_one(key), |s| s.key() == key).is_some());
        }
        self.bytes = 0;
        Taken {
            map: std::mem::take(&mut self.map),
            expiries: std::mem::take(&mut self.expiries),
        }
    }

    pub fn flush(&mut self) {
        drop(self.take_all());
    }

    /// Deletes up to `budget` keys whose deadline has passed; returns how many.
    pub fn sweep(&mut self, now: Instant, budget: usize) -> usize {
        let mut removed = 0;
        while removed < budget {
            let Some((at, _)) = self.expiries.first() else {
                break;
            };
            if *at > now {
                break;
            }
            // first() just returned Some, so pop_first does too.
            let (_, key) = self.expiries.pop_first().expect("non-empty");
            let hash = self.hash(&key);
            if let Ok(entry) = self.map.find_entry(hash, |s| s.key() == key.as_slice()) {
                let (slot, _) = entry.remove();
                self.bytes -= footprint(&slot);
                self.signal(&key, false);
                self.expired += 1;
                self.notices.record(class::EXPIRED, &key);
                self.dropped_on_own(&key);
            }
            removed += 1;
        }
        removed
    }

    /// Evicts the key `policy` wants gone most among [`SAMPLES`] sampled ones (only keys with a TTL for a
    /// volatile policy); false if there was none to evict.
    pub fn evict(&mut self, policy: Policy, now: Instant) -> bool {
        if self.map.is_empty() || (policy.volatile() && self.expiries.is_empty()) {
            return false;
        }
        let victim = if policy == Policy::VolatileTtl {
            // The index is ordered by deadline: its first key is the soonest of the whole part, a better
            // choice than the soonest of a sample, found as cheaply.
            self.expiries.first().map(|(_, key)| key.clone())
        } else {
            let start = self.next_random();
            let mut best: Option<(u64, &Slot)> = None;
            for slot in self.sample(start, policy.volatile()) {
                let deadline = slot.deadline();
                let expired = slot.expires_at().is_some_and(|at| at <= now);
                let score = policy.score(slot.access(), deadline, expired, now);
                if best.is_none_or(|(b, _)| score > b) {
                    best = Some((score, slot));
                }
            }
            match best {
                Some((_, slot)) => Some(slot.key().to_vec()),
                // A volatile policy found no key with a TTL among the sampled ones: the soonest to expire.
                None if policy.volatile() => self.expiries.first().map(|(_, key)| key.clone()),
                None => None,
            }
        };
        victim.is_some_and(|key| {
            let removed = self.remove(&key).is_some();
            if removed {
                self.notices.record(class::EVICTED, &key);
                self.dropped_on_own(&key);
            }
            removed
        })
    }

    /// Up to [`SAMPLES`] keys near a random place of the table (`start` chooses it); with `volatile`, only
    /// keys with a deadline.
    ///
    /// The table offers no access by position, so the sample is gathered with `iter_hash`: for a hash whose
    /// position bits are fixed by `start`, it yields the keys in the probe group at that position whose
    /// control byte matches the hash's top seven bits; going through all 128 values of those bits visits
    /// every key in that group. That costs one 16-byte group compare per value, where walking the iterator
    /// to a random place costs a step per key of the part.
    fn sample(&self, start: u64, volatile: bool) -> Vec<&Slot> {
        const TOP_BITS: u32 = 7;
        let position = start & (u64::MAX >> TOP_BITS);
        let first = (start >> 57) as u32;
        let mut sample: Vec<&Slot> = Vec::with_capacity(SAMPLES);
        for step in 0..1u32 << TOP_BITS {
            let top = u64::from((first + step) & ((1 << TOP_BITS) - 1));
            for slot in self.map.iter_hash(position | top << (64 - TOP_BITS)) {
                // Each key matches one value of the top bits, so none is seen twice.
                if !volatile || slot.deadline().is_some() {
                    sample.push(slot);
                    if sample.len() == SAMPLES {
                        return sample;
                    }
                }
            }
        }
        if sample.is_empty() && !volatile && !self.map.is_empty() {
            // Nothing at that place (the table's own layout can differ from the one assumed above): a key
            // at a random rank, a walk through the table but still a right answer.
            let rank = (start % self.map.len() as u64) as usize;
            sample.extend(self.map.iter().nth(rank));
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_slot_keeps_key_value_and_deadline_through_every_change() {
        for key_len in [0usize, 1, 127, 128, 300, 20_000] {
            let key: Vec<u8> = (0..key_len).map(|i| (i % 251) as u8).collect();
            let mut slot = Slot::new(&key, b"value", None, Access(7));
            assert_eq!(
                (slot.key(), slot.value(), slot.deadline()),
                (&key[..], &b"value"[..], None)
            );
            slot.set_value(b"other");
            assert_eq!(slot.value(), b"other", "same length, in place");
            slot.set_value(b"");
            assert_eq!((slot.key(), slot.value()), (&key[..], &b""[..]));
            slot.set_deadline(Some(u64::MAX - 1));
            assert_eq!(slot.deadline(), Some(u64::MAX - 1));
            assert_eq!(slot.key(), &key[..]);
            slot.set_value(b"a much longer value than before");
            assert_eq!(
                slot.deadline(),
                Some(u64::MAX - 1),
                "the deadline survives a resize"
            );
            slot.set_deadline(Some(7));
            assert_eq!(
                (slot.deadline(), slot.value()),
                (Some(7), &b"a much longer value than before"[..])
            );
            slot.set_deadline(None);
            assert_eq!(
                (slot.key(), slot.value(), slot.deadline()),
                (&key[..], &b"a much longer value than before"[..], None)
            );
            assert_eq!(slot.access(), Access(7), "the access record survives");
        }
        // One allocation: flags, access record, a one-byte length, key and value, nothing else.
        assert_eq!(
            Slot::new(b"key:000000000001", &[b'x'; 64], None, Access(0))
                .0
                .len(),
            1 + 4 + 1 + 16 + 64
        );
    }

    #[test]
    fn set_conditions_and_ttl() {
        let mut s = Store::default();
        let now = Instant::now();
        assert!(
            !s.set(
                b"k",
                b"v",
                SetCondition::IfPresent,
                SetTtl::Clear,
                now,
                false
            )
            .0
        );
        assert!(
            s.set(
                b"k",
                b"v",
                SetCondition::IfAbsent,
                SetTtl::At(now + Duration::from_secs(5)),
                now,
                false
            )
            .0
        );
        assert!(
            !s.set(
                b"k",
                b"w",
                SetCondition::IfAbsent,
                SetTtl::Clear,
                now,
                false
            )
            .0
        );
        assert_eq!(s.ttl(b"k", now), Some(Some(5000)));
        s.set(b"k", b"w", SetCondition::Always, SetTtl::Keep, now, false);
        assert_eq!(s.ttl(b"k", now), Some(Some(5000)));
        s.set(b"k", b"x", SetCondition::Always, SetTtl::Clear, now, false);
        assert_eq!(s.ttl(b"k", now), Some(None));
        assert_eq!(s.expiring(), 0);
    }

    #[test]
    fn expired_keys_vanish_lazily_and_by_sweep() {
        let mut s = Store::default();
        let now = Instant::now();
        s.set(
            b"a",
            b"1",
            SetCondition::Always,
            SetTtl::At(now + Duration::from_millis(10)),
            now,
            false,
        );
        s.set(
            b"b",
            b"1",
            SetCondition::Always,
            SetTtl::At(now + Duration::from_millis(10)),
            now,
            false,
        );
        let later = now + Duration::from_millis(20);
        assert_eq!(s.get(b"a", later), Ok(None));
        assert_eq!(s.len(), 1);
        assert_eq!(s.sweep(later, 10), 1);
        assert!(s.is_empty() && s.expiring() == 0);
    }

    #[test]
    fn incr_checks_integers_and_overflow() {
        let mut s = Store::default();
        let now = Instant::now();
        assert_eq!(s.incr_by(b"n", 5, now), Ok(5));
        assert_eq!(s.incr_by(b"n", -7, now), Ok(-2));
        s.set(
            b"t",
            b"abc",
            SetCondition::Always,
            SetTtl::Clear,
            now,
            false,
        );
        assert_eq!(s.incr_by(b"t", 1, now), Err(IncrError::NotAnInteger));
        s.set(
            b"m",
            i64::MAX.to_string().as_bytes(),
            SetCondition::Always,
            SetTtl::Clear,
            now,
            false,
        );
        assert_eq!(s.incr_by(b"m", 1, now), Err(IncrError::Overflow));
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
    }

    #[test]
    fn many_keys_stay_findable_after_deletes() {
        let mut s = Store::default();
        let now = Instant::now();
        for i in 0..5000 {
            let key = format!("key:{i}");
            s.set(
                key.as_bytes(),
                key.as_bytes(),
                SetCondition::Always,
                SetTtl::Clear,
                now,
                false,
            );
        }
        assert_eq!(s.len(), 5000);
        for i in (0..5000).step_by(2) {
            assert!(s.delete(format!("key:{i}").as_bytes(), now));
        }
        assert_eq!(s.len(), 2500);
        for i in 0..5000 {
            let key = format!("key:{i}");
            let expected = (i % 2 == 1).then_some(key.as_bytes());
            assert_eq!(s.get(key.as_bytes(), now), Ok(expected), "{key}");
        }
        s.flush();
        assert!(s.is_empty());
    }

    #[test]
    fn expire_in_the_past_deletes() {
        let mut s = Store::default();
        let now = Instant::now();
        s.set(b"k", b"v", SetCondition::Always, SetTtl::Clear, now, false);
        assert!(s.expire_at(b"k", None, now));
        assert!(!s.exists(b"k", now));
        assert!(!s.expire_at(b"k", None, now));
    }

    fn put(s: &mut Store, key: &str, value: &str, ttl: Option<Instant>, now: Instant) {
        let ttl = ttl.map_or(SetTtl::Clear, SetTtl::At);
        s.set(
            key.as_bytes(),
            value.as_bytes(),
            SetCondition::Always,
            ttl,
            now,
            false,
        );
    }

    /// The bytes counted from scratch, to check the running count against.
    fn recount(s: &Store) -> usize {
        s.map.iter().map(footprint).sum()
    }

    fn cost(key: &str, value: &str, deadline: Option<u64>) -> usize {
        footprint(&Slot::new(
            key.as_bytes(),
            value.as_bytes(),
            deadline,
            Access(0),
        ))
    }

    #[test]
    fn bytes_go_up_and_down_exactly_with_every_change() {
        let mut s = Store::default();
        let now = Instant::now();
        let later = Some(now + Duration::from_secs(60));
        assert_eq!(s.bytes(), 0);
        put(&mut s, "a", "1", None, now);
        assert_eq!(s.bytes(), cost("a", "1", None));
        let big = "x".repeat(1000);
        put(&mut s, "a", &big, None, now);
        assert_eq!(s.bytes(), cost("a", &big, None), "overwrite, larger");
        put(&mut s, "a", "22", None, now);
        assert_eq!(s.bytes(), cost("a", "22", None), "overwrite, smaller");
        put(&mut s, "b", "v", later, now);
        let with_ttl = cost("a", "22", None) + cost("b", "v", Some(1));
        assert_eq!(
            s.bytes(),
            with_ttl,
            "a TTL costs its deadline and index entry"
        );
        assert!(cost("b", "v", Some(1)) > cost("b", "v", None) + EXPIRY_SHARE);
        assert!(s.expire_at(b"a", later, now));
        assert_eq!(
            s.bytes(),
            cost("a", "22", Some(1)) + cost("b", "v", Some(1))
        );
        put(&mut s, "a", "22", None, now);
        assert_eq!(s.bytes(), with_ttl, "SET without EX drops the TTL's cost");
        assert_eq!(s.incr_by(b"n", 7, now), Ok(7));
        assert_eq!(s.bytes(), with_ttl + cost("n", "7", None));
        assert_eq!(s.incr_by(b"n", 100, now), Ok(107));
        assert_eq!(s.bytes(), with_ttl + cost("n", "107", None));
        assert!(s.delete(b"n", now));
        assert_eq!(s.bytes(), with_ttl, "delete");
        let after = now + Duration::from_secs(61);
        assert_eq!(s.get(b"b", after), Ok(None));
        assert_eq!(s.bytes(), cost("a", "22", None), "lazy expiry");
        put(&mut s, "c", "v", Some(now + Duration::from_millis(1)), now);
        assert_eq!(s.sweep(after, 10), 1);
        assert_eq!(s.bytes(), cost("a", "22", None), "swept expiry");
        assert!(s.expire_at(b"a", None, now));
        assert_eq!(s.bytes(), 0, "EXPIRE in the past");
        for i in 0..500 {
            let ttl = (i % 3 == 0).then_some(now + Duration::from_secs(i));
            put(&mut s, &format!("k{i}"), &"v".repeat(i as usize), ttl, now);
        }
        assert_eq!(s.bytes(), recount(&s));
        drop(s.take_all());
        assert_eq!(s.bytes(), 0, "flush");
    }

    #[test]
    fn collections_are_counted_moved_and_freed_with_their_keys() {
        use crate::builtin::resp::types::{Hash, List};
        let mut s = Store::default();
        let now = Instant::now();
        let later = Some(now + Duration::from_secs(60));
        let added = s.change(b"h", now, true, |h: &mut Hash| {
            (0..600)
                .filter(|i| h.insert(format!("f{i}").as_bytes(), b"v"))
                .count()
        });
        assert_eq!(added, Ok(Some(600)));
        assert!(s.read::<Hash>(b"h", now).unwrap().unwrap().is_large());
        assert_eq!(s.bytes(), recount(&s));
        assert!(s.bytes() > 600 * 2 * 32, "every field and value is counted");
        assert_eq!(s.read::<List>(b"h", now).err(), Some(WrongType));
        assert_eq!(s.get(b"h", now), Err(WrongType));
        assert_eq!(s.kind(b"h", now), Some(Kind::Hash));

        // A deadline rebuilds the slot: the collection moves along, and is not freed twice.
        assert!(s.expire_at(b"h", later, now));
        assert_eq!(s.read::<Hash>(b"h", now).unwrap().map(Hash::len), Some(600));
        assert_eq!(s.bytes(), recount(&s));
        let (value, deadline) = s.take(b"h", now).unwrap();
        assert_eq!(s.bytes(), 0);
        s.put(b"renamed", value, deadline, now);
        assert_eq!(s.ttl(b"renamed", now), Some(Some(60_000)));
        let (copy, _) = s.copy_of(b"renamed", now).unwrap();
        s.put(b"copy", copy, None, now);
        s.change(b"copy", now, false, |h: &mut Hash| h.remove(b"f0"))
            .unwrap();
        assert_eq!(
            s.read::<Hash>(b"renamed", now).unwrap().map(Hash::len),
            Some(600)
        );
        assert_eq!(s.bytes(), recount(&s));

        // SET over a collection frees it; emptying a collection deletes its key.
        put(&mut s, "copy", "plain", None, now);
        assert_eq!(s.get(b"copy", now), Ok(Some(&b"plain"[..])));
        s.change(b"l", now, true, |l: &mut List| {
            l.push(crate::builtin::resp::types::list::End::Left, b"x")
        })
        .unwrap();
        assert_eq!(s.kind(b"l", now), Some(Kind::List));
        s.change(b"l", now, false, |l: &mut List| {
            l.pop(crate::builtin::resp::types::list::End::Left)
        })
        .unwrap();
        assert_eq!(s.kind(b"l", now), None);
        assert_eq!(s.bytes(), recount(&s));
        assert_eq!(s.get(b"renamed", now + Duration::from_secs(61)), Ok(None));
        assert_eq!(
            s.bytes(),
            cost("copy", "plain", None),
            "expired with its collection"
        );
    }

    /// A store of the given keys, small enough that a sample sees every one of them.
    fn small(keys: &[(&str, Option<Duration>)], now: Instant) -> Store {
        let mut s = Store::default();
        for (key, ttl) in keys {
            put(&mut s, key, "v", ttl.map(|t| now + t), now);
        }
        assert!(keys.len() <= SAMPLES);
        s
    }

    fn keys(s: &Store) -> Vec<String> {
        let mut keys: Vec<String> = s
            .map
            .iter()
            .map(|slot| String::from_utf8_lossy(slot.key()).into_owned())
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_sample_of_a_small_store_sees_every_key() {
        let now = Instant::now();
        let s = small(&[("a", None), ("b", None), ("c", None), ("d", None)], now);
        for start in [0, 1, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
            assert_eq!(s.sample(start, false).len(), 4, "start {start:#x}");
        }
    }

    #[test]
    fn volatile_policies_never_evict_a_key_without_a_ttl() {
        let now = Instant::now();
        let hour = Some(Duration::from_secs(3600));
        for policy in Policy::ALL.into_iter().filter(|p| p.volatile()) {
            let mut s = small(&[("a", None), ("t", hour), ("b", None), ("c", None)], now);
            assert!(s.evict(policy, now), "{policy:?}");
            assert_eq!(keys(&s), ["a", "b", "c"], "{policy:?}");
            for _ in 0..10 {
                assert!(
                    !s.evict(policy, now),
                    "{policy:?} evicted a key without TTL"
                );
            }
            assert_eq!(s.len(), 3);
        }
    }

    #[test]
    fn volatile_ttl_evicts_the_soonest_deadline() {
        let now = Instant::now();
        let secs = |n| Some(Duration::from_secs(n));
        let mut s = small(
            &[
                ("late", secs(300)),
                ("soon", secs(5)),
                ("mid", secs(60)),
                ("never", None),
            ],
            now,
        );
        assert!(s.evict(Policy::VolatileTtl, now));
        assert_eq!(keys(&s), ["late", "mid", "never"]);
        assert!(s.evict(Policy::VolatileTtl, now));
        assert_eq!(keys(&s), ["late", "never"]);
    }

    #[test]
    fn lru_evicts_a_key_not_read_over_ones_just_read() {
        let now = Instant::now();
        let later = now + Duration::from_secs(100);
        for _ in 0..20 {
            let mut s = small(
                &[("a", None), ("b", None), ("cold", None), ("d", None)],
                now,
            );
            for key in ["a", "b", "d"] {
                assert!(s.get(key.as_bytes(), later).is_ok_and(|v| v.is_some()));
            }
            assert!(s.evict(Policy::AllKeysLru, later));
            assert_eq!(keys(&s), ["a", "b", "d"]);
        }
    }

    #[test]
    fn lfu_evicts_the_least_read_key() {
        let now = Instant::now();
        for _ in 0..20 {
            let mut s = small(&[("hot", None), ("rare", None), ("warm", None)], now);
            for i in 0..50 {
                let _ = s.get(b"hot", now);
                if i % 5 == 0 {
                    let _ = s.get(b"warm", now);
                }
            }
            assert!(s.evict(Policy::AllKeysLfu, now));
            assert_eq!(keys(&s), ["hot", "warm"]);
        }
    }

    #[test]
    fn expired_keys_are_evicted_first_and_random_takes_any() {
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        let mut s = small(
            &[
                ("a", None),
                ("gone", Some(Duration::from_secs(1))),
                ("b", None),
            ],
            now,
        );
        let _ = s.get(b"a", now);
        assert!(s.evict(Policy::AllKeysLru, later));
        assert_eq!(keys(&s), ["a", "b"]);
        let mut many = Store::default();
        for i in 0..1000 {
            put(&mut many, &format!("k{i}"), "v", None, now);
        }
        while many.evict(Policy::AllKeysRandom, now) {}
        assert!(many.is_empty() && many.bytes() == 0);
    }
}
