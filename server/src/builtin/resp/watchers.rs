//! The watched keys of one keyspace part ([`Watchers`]), kept in the part's [`super::store::Store`] under its
//! lock: who watches which key, flagged when the key changes. The per-connection side, and what WATCH means,
//! is [`super::watch`]. Kept apart from it so that the store, which every write goes through, depends on
//! nothing above it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One connection's registration on one key.
struct Watcher {
    /// The connection's flag: set by any change of the key.
    touched: Arc<AtomicBool>,
    /// The key had expired, not yet deleted, when it was watched.
    stale: bool,
}

/// The watched keys of one part and who watches them.
#[derive(Default)]
pub struct Watchers {
    keys: HashMap<Box<[u8]>, Vec<Watcher>, ahash::RandomState>,
}

impl Watchers {
    /// No key of the part is watched: the common case, all a write checks.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys watched by at least one connection.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `key` changed; `present` is whether it exists afterwards. Every connection watching it is flagged,
    /// except where a stale key was deleted (no logical change: the registration stops being stale).
    pub fn touch(&mut self, key: &[u8], present: bool) {
        let Some(watchers) = self.keys.get_mut(key) else {
            return;
        };
        for w in watchers {
            if w.stale && !present {
                w.stale = false;
            } else {
                w.touched.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The whole part was emptied (FLUSHALL): every watched key that `existed` is deleted.
    pub fn touch_all(&mut self, mut existed: impl FnMut(&[u8]) -> bool) {
        let keys: Vec<Box<[u8]>> = self.keys.keys().filter(|k| existed(k)).cloned().collect();
        for key in keys {
            self.touch(&key, false);
        }
    }

    pub(super) fn add(&mut self, key: &[u8], touched: &Arc<AtomicBool>, stale: bool) {
        self.keys.entry(key.into()).or_default().push(Watcher {
            touched: touched.clone(),
            stale,
        });
    }

    pub(super) fn remove(&mut self, key: &[u8], touched: &Arc<AtomicBool>) {
        if let Some(watchers) = self.keys.get_mut(key) {
            watchers.retain(|w| !Arc::ptr_eq(&w.touched, touched));
            if watchers.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// Whether the registration of `touched` on `key` is stale (see the module's documentation).
    pub(super) fn stale(&self, key: &[u8], touched: &Arc<AtomicBool>) -> bool {
        self.keys.get(key).is_some_and(|watchers| {
            watchers
                .iter()
                .any(|w| Arc::ptr_eq(&w.touched, touched) && w.stale)
        })
    }
}
