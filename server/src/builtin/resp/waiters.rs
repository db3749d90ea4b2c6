//! The queues of clients waiting in a blocking pop, per key ([`Waiters`]), shared by every shard. Kept apart
//! from [`super::blocking`], which serves the waiting clients, so that the keyspace that holds the queues
//! depends on nothing above it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The queues of waiting clients, per key.
#[derive(Default)]
pub struct Waiters {
    queues: Mutex<HashMap<Vec<u8>, VecDeque<u64>>>,
    next: AtomicU64,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, VecDeque<u64>>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a new waiter on every key; its ticket.
    pub(super) fn register(&self, keys: &[Vec<u8>]) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut queues = self.lock();
        for key in keys {
            queues.entry(key.clone()).or_default().push_back(id);
        }
        id
    }

    /// Whether no client waits on any key.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Whether no client waits on `key` (a command may take from it at once).
    pub fn none_on(&self, key: &[u8]) -> bool {
        self.lock().get(key).is_none_or(VecDeque::is_empty)
    }

    /// Whether waiter `id` is first in `key`'s queue.
    pub(super) fn first(&self, id: u64, key: &[u8]) -> bool {
        self.lock().get(key).and_then(|q| q.front()) == Some(&id)
    }

    pub(super) fn unregister(&self, id: u64, keys: &[Vec<u8>]) {
        let mut queues = self.lock();
        for key in keys {
            if let Some(queue) = queues.get_mut(key.as_slice()) {
                queue.retain(|&waiter| waiter != id);
                if queue.is_empty() {
                    queues.remove(key.as_slice());
                }
            }
        }
    }
}
