//! One part of the keyspace (see [`super::keyspace`]): binary-safe keys and values with optional expiry.
//!
//! Keys expire lazily (a read of an expired key deletes it) and by a periodic sweep over an index ordered by
//! deadline, so memory held by expired keys that nobody reads is bounded by the sweep interval.
//!
//! Each key is one heap block holding its key, value and deadline ([`Slot`]), and the table holds a 16-byte
//! pointer to it: per key that is one allocation and the table's share, where a map of `Vec` key to `Vec`
//! value costs two allocations and a 64-byte bucket. Memory per key is what a cache is sized by.

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

/// Keys are hashed with aHash, keyed per part from OS randomness: several times cheaper than std's SipHash on
/// short keys, and a client cannot precompute colliding keys.
type Hasher = ahash::RandomState;

/// Deadlines are kept as nanoseconds since this instant (8 bytes instead of an `Instant`'s 16).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn to_nanos(at: Instant) -> u64 {
    // u64 nanoseconds reach 584 years past the epoch; a later deadline is as good as never.
    u64::try_from(at.saturating_duration_since(*EPOCH).as_nanos()).unwrap_or(u64::MAX)
}

fn from_nanos(nanos: u64) -> Instant {
    *EPOCH + Duration::from_nanos(nanos)
}

/// One key with its value and deadline, in one allocation:
/// `[flags][key length, LEB128][deadline: 8 bytes LE, if flags say so][key][value]`.
struct Slot(Box<[u8]>);

const HAS_DEADLINE: u8 = 1;

impl Slot {
    fn new(key: &[u8], value: &[u8], deadline: Option<u64>) -> Slot {
        let mut bytes = Vec::with_capacity(1 + 5 + 8 + key.len() + value.len());
        bytes.push(if deadline.is_some() { HAS_DEADLINE } else { 0 });
        let mut len = key.len();
        loop {
            let low = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                bytes.push(low);
                break;
            }
            bytes.push(low | 0x80);
        }
        if let Some(nanos) = deadline {
            bytes.extend_from_slice(&nanos.to_le_bytes());
        }
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(value);
        Slot(bytes.into_boxed_slice())
    }

    /// (where the key starts, its length): after the flags, the length and the deadline.
    fn layout(&self) -> (usize, usize) {
        let b = &self.0;
        let mut len = 0usize;
        let mut i = 1;
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
        let at = 1 + self.0[1..].iter().position(|b| b & 0x80 == 0)? + 1;
        let nanos: [u8; 8] = self.0[at..at + 8].try_into().ok()?;
        Some(u64::from_le_bytes(nanos))
    }

    fn expires_at(&self) -> Option<Instant> {
        self.deadline().map(from_nanos)
    }

    /// Replaces the value, keeping key and deadline; in place when the length is unchanged.
    fn set_value(&mut self, value: &[u8]) {
        let (start, len) = self.layout();
        if self.0.len() - start - len == value.len() {
            self.0[start + len..].copy_from_slice(value);
        } else {
            *self = Slot::new(self.key(), value, self.deadline());
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
        *self = Slot::new(self.key(), self.value(), deadline);
    }
}

/// The keys of one keyspace part. Whoever holds the part's lock touches it.
#[derive(Default)]
pub struct Store {
    map: HashTable<Slot>,
    hasher: Hasher,
    /// (deadline, key) for every key with a TTL; kept in step with `map`.
    expiries: BTreeSet<(Instant, Vec<u8>)>,
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
    Overflow,
}

impl IncrError {
    pub fn message(self) -> &'static [u8] {
        match self {
            IncrError::NotAnInteger => b"ERR value is not an integer or out of range",
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

    /// Keys that have a TTL.
    pub fn expiring(&self) -> usize {
        self.expiries.len()
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

    fn insert_new(&mut self, key: &[u8], value: &[u8]) {
        let hasher = &self.hasher;
        self.map
            .insert_unique(hasher.hash_one(key), Slot::new(key, value, None), |s| {
                hasher.hash_one(s.key())
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
            return false;
        }
        true
    }

    fn remove(&mut self, key: &[u8]) -> Option<()> {
        let hash = self.hash(key);
        let (slot, _) = self.map.find_entry(hash, |s| s.key() == key).ok()?.remove();
        if let Some(at) = slot.expires_at() {
            self.expiries.remove(&(at, key.to_vec()));
        }
        Some(())
    }

    fn set_deadline(&mut self, key: &[u8], deadline: Option<Instant>) {
        let Some(slot) = self.slot_mut(key) else {
            return;
        };
        let old = slot.expires_at();
        // Stored to the nanosecond since the epoch, and indexed by the same rounded instant.
        let deadline = deadline.map(to_nanos);
        if slot.deadline() == deadline {
            return;
        }
        slot.set_deadline(deadline);
        if let Some(old) = old {
            self.expiries.remove(&(old, key.to_vec()));
        }
        if let Some(nanos) = deadline {
            self.expiries.insert((from_nanos(nanos), key.to_vec()));
        }
    }

    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<&[u8]> {
        if !self.live(key, now) {
            return None;
        }
        self.slot(key).map(Slot::value)
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
            self.slot(key).map(|s| s.value().to_vec())
        } else {
            None
        };
        if !allowed {
            return (false, old);
        }
        match self.slot_mut(key) {
            Some(slot) => slot.set_value(value),
            None => self.insert_new(key, value),
        }
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

    /// INCRBY: adds `delta` to the integer stored at `key` (0 when absent), keeping its TTL.
    pub fn incr_by(&mut self, key: &[u8], delta: i64, now: Instant) -> Result<i64, IncrError> {
        let current = match self.get(key, now) {
            None => 0,
            Some(bytes) => parse_i64(bytes).ok_or(IncrError::NotAnInteger)?,
        };
        let next = current.checked_add(delta).ok_or(IncrError::Overflow)?;
        let mut text = itoa::Buffer::new();
        let text = text.format(next).as_bytes();
        match self.slot_mut(key) {
            Some(slot) => slot.set_value(text),
            None => self.insert_new(key, text),
        }
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
                entry.remove();
            }
            removed += 1;
        }
        removed
    }
}

/// A Redis integer, as Redis's `string2ll` reads one: `0`, or an optional `-` then a digit 1-9 and more
/// digits, fitting i64. No `+`, spaces, leading zeros or `-0`: `INCR` on "007" is an error in Redis too.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) || digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -(2^63) is i64::MIN; anything larger in magnitude does not fit.
        (v <= 1 << 63).then(|| 0u64.wrapping_sub(v) as i64)
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for (text, value) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("42", Some(42)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("18446744073709551616", None),
            ("007", None),
            ("00", None),
            ("-0", None),
            ("-", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("1.0", None),
            ("", None),
        ] {
            assert_eq!(parse_i64(text.as_bytes()), value, "{text:?}");
        }
    }

    #[test]
    fn a_slot_keeps_key_value_and_deadline_through_every_change() {
        for key_len in [0usize, 1, 127, 128, 300, 20_000] {
            let key: Vec<u8> = (0..key_len).map(|i| (i % 251) as u8).collect();
            let mut slot = Slot::new(&key, b"value", None);
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
        }
        // One allocation: flags, a one-byte length, key and value, nothing else.
        assert_eq!(
            Slot::new(b"key:000000000001", &[b'x'; 64], None).0.len(),
            2 + 16 + 64
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
        assert_eq!(s.get(b"a", later), None);
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
            assert_eq!(s.get(key.as_bytes(), now), expected, "{key}");
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
}
