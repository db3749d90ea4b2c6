//! One part of the keyspace (see [`super::keyspace`]): binary-safe keys and values with optional expiry.
//!
//! Keys expire lazily (a read of an expired key deletes it) and by a periodic sweep over an index ordered by
//! deadline, so memory held by expired keys that nobody reads is bounded by the sweep interval.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// Keys are hashed with aHash, keyed per map from OS randomness: several times cheaper than std's SipHash on
/// short keys, and a client cannot precompute colliding keys.
type Keys = HashMap<Vec<u8>, Entry, ahash::RandomState>;

struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

/// The keys of one keyspace part. Whoever holds the part's lock touches it.
#[derive(Default)]
pub struct Store {
    map: Keys,
    /// (deadline, key) for every key with a TTL; kept in step with `map`.
    expiries: BTreeSet<(Instant, Vec<u8>)>,
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

    /// Removes `key` if its deadline has passed; true if it is (still) present.
    fn live(&mut self, key: &[u8], now: Instant) -> bool {
        let expired = match self.map.get(key) {
            None => return false,
            Some(entry) => entry.expires_at.is_some_and(|at| at <= now),
        };
        if expired {
            self.remove(key);
            return false;
        }
        true
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        if let Some(at) = entry.expires_at {
            self.expiries.remove(&(at, key.to_vec()));
        }
        Some(entry)
    }

    fn set_deadline(&mut self, key: &[u8], deadline: Option<Instant>) {
        let Some(entry) = self.map.get_mut(key) else {
            return;
        };
        if entry.expires_at == deadline {
            return;
        }
        if let Some(old) = entry.expires_at.take() {
            self.expiries.remove(&(old, key.to_vec()));
        }
        entry.expires_at = deadline;
        if let Some(at) = deadline {
            self.expiries.insert((at, key.to_vec()));
        }
    }

    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<&[u8]> {
        if !self.live(key, now) {
            return None;
        }
        self.map.get(key).map(|e| e.value.as_slice())
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
            self.map.get(key).map(|e| e.value.clone())
        } else {
            None
        };
        if !allowed {
            return (false, old);
        }
        match self.map.get_mut(key) {
            Some(entry) => {
                entry.value.clear();
                entry.value.extend_from_slice(value);
            }
            None => {
                self.map.insert(
                    key.to_vec(),
                    Entry {
                        value: value.to_vec(),
                        expires_at: None,
                    },
                );
            }
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
        let text = next.to_string();
        match self.map.get_mut(key) {
            Some(entry) => {
                entry.value.clear();
                entry.value.extend_from_slice(text.as_bytes());
            }
            None => {
                self.map.insert(
                    key.to_vec(),
                    Entry {
                        value: text.into_bytes(),
                        expires_at: None,
                    },
                );
            }
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
        let entry = self.map.get(key)?;
        Some(
            entry
                .expires_at
                .map(|at| at.saturating_duration_since(now).as_millis()),
        )
    }

    pub fn flush(&mut self) {
        self.map = Keys::default();
        self.expiries = BTreeSet::new();
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
            self.map.remove(&key);
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
