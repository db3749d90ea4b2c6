//! The watched keys of one keyspace part ([`Watchers`]), kept in the part's [`super::store::Store`] under its
//! lock: who watches which key, flagged when the key changes. The per-connection side, and what WATCH means,
//! is [`super::watch`]. Kept apart from it so that the store, which every write goes through, depends on
//! nothing above it.
//!
//! Clients blocked in a pop (see [`super::blocking`]) hang a [`Bell`] on the keys they wait for here too:
//! every change of such a key rings it, waking the client's task on whatever shard it runs, so a push is
//! seen at once and an idle blocked client costs nothing.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Wakes one waiting task from any thread: rung by a change of a key it waits for, by its turn coming, or
/// by CLIENT UNBLOCK (which the bell then carries).
#[derive(Debug, Default)]
pub struct Bell {
    rung: AtomicBool,
    waker: Mutex<Option<Waker>>,
    /// CLIENT UNBLOCK's request: 0 none, [`Unblock`] + 1 otherwise.
    unblock: AtomicU8,
}

/// How CLIENT UNBLOCK ends a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// As if the timeout had passed.
    Timeout = 0,
    /// With the `-UNBLOCKED` error.
    Error = 1,
}

impl Bell {
    /// Ends the wait as `how` says (CLIENT UNBLOCK), and rings.
    pub fn unblock(&self, how: Unblock) {
        self.unblock.store(how as u8 + 1, Ordering::Release);
        self.ring();
    }

    /// Whether CLIENT UNBLOCK ended the wait, and how.
    pub fn unblocked(&self) -> Option<Unblock> {
        match self.unblock.load(Ordering::Acquire) {
            1 => Some(Unblock::Timeout),
            2 => Some(Unblock::Error),
            _ => None,
        }
    }

    pub fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the bell has rung since it was last heard (and hears it).
    pub fn rung_now(&self) -> bool {
        self.rung.swap(false, Ordering::Acquire)
    }

    /// Resolves once the bell has rung since the last time it was heard.
    pub fn rung(&self) -> impl Future<Output = ()> + '_ {
        Rung(self)
    }
}

struct Rung<'a>(&'a Bell);

impl Future for Rung<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let bell = self.0;
        if bell.rung_now() {
            return Poll::Ready(());
        }
        *bell.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        // A ring between the check and storing the waker found no waker: look again.
        if bell.rung_now() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

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
    /// The bells of clients blocked on a key of the part.
    bells: HashMap<Box<[u8]>, Vec<Arc<Bell>>, ahash::RandomState>,
}

impl Watchers {
    /// No key of the part is watched: the common case, all a write checks.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.bells.is_empty()
    }

    /// Keys watched by at least one connection.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `key` changed; `present` is whether it exists afterwards. Every connection watching it is flagged,
    /// except where a stale key was deleted (no logical change: the registration stops being stale).
    pub fn touch(&mut self, key: &[u8], present: bool) {
        if present {
            for bell in self.bells.get(key).into_iter().flatten() {
                bell.ring();
            }
        }
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

    /// Hangs `bell` on `key`: any change that leaves the key present rings it.
    pub fn hang(&mut self, key: &[u8], bell: &Arc<Bell>) {
        self.bells.entry(key.into()).or_default().push(bell.clone());
    }

    pub fn unhang(&mut self, key: &[u8], bell: &Arc<Bell>) {
        if let Some(bells) = self.bells.get_mut(key) {
            bells.retain(|b| !Arc::ptr_eq(b, bell));
            if bells.is_empty() {
                self.bells.remove(key);
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
