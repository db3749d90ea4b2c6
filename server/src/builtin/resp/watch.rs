//! WATCH: optimistic locking for MULTI/EXEC, per key, as Redis 7.0's `multi.c` does it.
//!
//! Each keyspace part keeps the connections watching its keys ([`super::watchers::Watchers`], in the part's [`super::store::Store`],
//! under the part's lock). It is empty unless some client runs WATCH, so a write pays one `is_empty()` check.
//! A write, delete, expiry, eviction or flush of a watched key sets the watching connections' flag
//! ([`Watching`]); EXEC, holding the parts of every watched key, aborts when the flag is set or a watched key
//! has expired since WATCH.
//!
//! A key that had already expired (but was not yet deleted) when it was watched is *stale*: deleting it later
//! changes nothing logically, so it does not abort EXEC, as Redis's `watchedKey.expired`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::keyspace::Parts;

/// What a connection watches, bounded like one request: at most `limits.max_array_len` keys and
/// `limits.max_request_bytes` bytes of key names, so WATCH cannot grow the keyspace's registrations without
/// bound. The connection unregisters everything on EXEC, DISCARD, UNWATCH and when it closes.
#[derive(Default)]
pub struct Watching {
    keys: HashSet<Box<[u8]>, ahash::RandomState>,
    bytes: usize,
    /// Set by writers of a watched key; shared with every part the connection is registered in.
    touched: Arc<AtomicBool>,
}

/// Why WATCH was refused.
pub const TOO_MANY: &[u8] = b"ERR WATCH would exceed this connection's watched keys (limits.max_array_len keys, limits.max_request_bytes bytes); run EXEC, DISCARD or UNWATCH first";

impl Watching {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The watched keys (EXEC locks their parts).
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(|k| &k[..])
    }

    /// A watched key changed since WATCH.
    pub fn touched(&self) -> bool {
        self.touched.load(Ordering::Relaxed)
    }

    /// WATCH `keys`: each registered in its part (a key already watched is kept as it is). Refused, with
    /// nothing registered, past the bounds `(max_keys, max_bytes)`.
    pub fn watch(
        &mut self,
        parts: &mut Parts<'_>,
        keys: &[&[u8]],
        (max_keys, max_bytes): (usize, usize),
        now: Instant,
    ) -> Result<(), &'static [u8]> {
        // As Redis: a connection whose watch already failed has nothing more to watch for.
        if self.touched() {
            return Ok(());
        }
        let new: Vec<&[u8]> = {
            let mut seen: HashSet<&[u8], ahash::RandomState> =
                HashSet::with_capacity_and_hasher(keys.len(), Default::default());
            keys.iter()
                .copied()
                .filter(|k| !self.keys.contains(*k) && seen.insert(*k))
                .collect()
        };
        let bytes = self.bytes + new.iter().map(|k| k.len()).sum::<usize>();
        if self.keys.len() + new.len() > max_keys || bytes > max_bytes {
            return Err(TOO_MANY);
        }
        let mut locked = parts.lock_keys(new.iter().copied());
        for key in &new {
            let store = locked.store(key);
            let stale = store.is_expired(key, now);
            store.watchers.add(key, &self.touched, stale);
        }
        drop(locked);
        self.keys.extend(new.into_iter().map(Box::from));
        self.bytes = bytes;
        Ok(())
    }

    /// At EXEC, with every watched key's part held: whether EXEC must abort (a watched key changed, or one
    /// that was live at WATCH has expired since).
    pub fn broken(&self, parts: &mut Parts<'_>, now: Instant) -> bool {
        if self.touched() {
            return true;
        }
        let mut locked = parts.lock_keys(self.keys());
        self.keys().any(|key| {
            let store = locked.store(key);
            !store.watchers.stale(key, &self.touched) && store.is_expired(key, now)
        })
    }

    /// UNWATCH: every registration removed and the flag cleared.
    pub fn clear(&mut self, parts: &mut Parts<'_>) {
        if self.keys.is_empty() {
            self.touched.store(false, Ordering::Relaxed);
            return;
        }
        let mut locked = parts.lock_keys(self.keys.iter().map(|k| &k[..]));
        for key in &self.keys {
            locked.store(key).watchers.remove(key, &self.touched);
        }
        drop(locked);
        self.keys.clear();
        self.bytes = 0;
        // Every registration is gone, so no writer can set it again.
        self.touched.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::builtin::resp::keyspace::Keyspace;
    use crate::builtin::resp::store::{SetCondition, SetTtl};

    fn set(ks: &Keyspace, key: &[u8], ttl: SetTtl, now: Instant) {
        ks.lock(key)
            .set(key, b"v", SetCondition::Always, ttl, now, false);
    }

    const BOUNDS: (usize, usize) = (100, 10_000);

    /// A connection watching `key` since `now`.
    fn watching(ks: &Keyspace, key: &[u8], now: Instant) -> Watching {
        let mut w = Watching::default();
        w.watch(&mut Parts::Lock(ks), &[key], BOUNDS, now).unwrap();
        w
    }

    #[test]
    fn a_write_to_another_key_of_the_same_part_touches_nothing() {
        let ks = Keyspace::default();
        let now = Instant::now();
        let watched = b"watched".as_slice();
        let neighbour = (0..)
            .map(|i| format!("n{i}").into_bytes())
            .find(|k| ks.part_of(k) == ks.part_of(watched))
            .unwrap();
        let mut w = watching(&ks, watched, now);
        set(&ks, &neighbour, SetTtl::Clear, now);
        assert!(ks.lock(&neighbour).delete(&neighbour, now));
        assert!(!w.broken(&mut Parts::Lock(&ks), now));
        set(&ks, watched, SetTtl::Clear, now);
        assert!(w.broken(&mut Parts::Lock(&ks), now));
        w.clear(&mut Parts::Lock(&ks));
        assert!(!w.touched() && w.is_empty());
        assert_eq!(ks.lock(watched).watchers.len(), 0, "unregistered");
    }

    #[test]
    fn expiry_breaks_a_watch_unless_the_key_had_expired_when_watched() {
        let ks = Keyspace::default();
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        set(&ks, b"live", SetTtl::At(now + Duration::from_secs(5)), now);
        set(&ks, b"stale", SetTtl::At(now + Duration::from_secs(5)), now);
        let (live, stale) = (watching(&ks, b"live", now), watching(&ks, b"stale", later));
        assert!(
            live.broken(&mut Parts::Lock(&ks), later),
            "expired since WATCH"
        );
        assert!(!ks.lock(b"stale").exists(b"stale", later), "deleted lazily");
        assert!(!stale.broken(&mut Parts::Lock(&ks), later));
        set(&ks, b"stale", SetTtl::Clear, later);
        assert!(stale.broken(&mut Parts::Lock(&ks), later), "written anew");
    }

    #[test]
    fn flush_touches_the_watched_keys_that_exist() {
        let ks = Keyspace::default();
        let now = Instant::now();
        set(&ks, b"here", SetTtl::Clear, now);
        let (here, absent) = (watching(&ks, b"here", now), watching(&ks, b"absent", now));
        ks.flush();
        assert!(here.touched());
        assert!(!absent.touched());
    }

    #[test]
    fn watches_are_bounded_and_repeats_are_counted_once() {
        let ks = Keyspace::default();
        let now = Instant::now();
        let mut w = Watching::default();
        let mut parts = Parts::Lock(&ks);
        w.watch(&mut parts, &[b"a", b"b", b"a"], (3, 100), now)
            .unwrap();
        w.watch(&mut parts, &[b"b", b"c"], (3, 100), now).unwrap();
        assert_eq!(w.watch(&mut parts, &[b"d"], (3, 100), now), Err(TOO_MANY));
        assert_eq!(w.keys().count(), 3);
        let long = [b'k'; 99];
        w.clear(&mut parts);
        assert_eq!(
            w.watch(&mut parts, &[b"a", &long[..]], (3, 99), now),
            Err(TOO_MANY),
            "bytes"
        );
        assert!(w.is_empty());
    }
}
