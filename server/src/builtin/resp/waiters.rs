//! The queues of clients waiting in a blocking pop, per key ([`Waiters`]), shared by every shard. Kept apart
//! from [`super::blocking`], which serves the waiting clients, so that the keyspace that holds the queues
//! depends on nothing above it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::watchers::{Bell, Unblock};

type Queues = HashMap<Vec<u8>, VecDeque<(u64, Arc<Bell>)>>;

/// The queues of waiting clients, per key: each waiter's ticket and the bell that wakes it.
#[derive(Default)]
pub struct Waiters {
    queues: Mutex<Queues>,
    next: AtomicU64,
    /// Clients waiting now (INFO's blocked_clients).
    waiting: AtomicUsize,
    /// The bell of each waiting client, by client id (CLIENT UNBLOCK).
    clients: Mutex<HashMap<u64, Arc<Bell>>>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bells(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Bell>>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends client `client`'s wait as `how` says, if it waits: whether it did (CLIENT UNBLOCK).
    pub fn unblock(&self, client: u64, how: Unblock) -> bool {
        let bell = self.bells().get(&client).cloned();
        bell.inspect(|bell| bell.unblock(how)).is_some()
    }

    /// Queues a new waiter (connection `client`) on every key; its ticket.
    pub(super) fn register(&self, keys: &[Vec<u8>], bell: &Arc<Bell>, client: u64) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.bells().insert(client, bell.clone());
        let mut queues = self.lock();
        for key in keys {
            queues
                .entry(key.clone())
                .or_default()
                .push_back((id, bell.clone()));
        }
        id
    }

    /// How many clients wait in a blocking pop.
    pub fn clients(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
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
        self.lock()
            .get(key)
            .and_then(|q| q.front())
            .map(|(first, _)| *first)
            == Some(id)
    }

    /// Takes waiter `id` out of its keys' queues. Where it was first, the next one's turn has come: its
    /// bell rings, so that it looks at the key (which may still hold something) without waiting for a change.
    pub(super) fn unregister(&self, id: u64, keys: &[Vec<u8>], client: u64) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        self.bells().remove(&client);
        let mut queues = self.lock();
        for key in keys {
            if let Some(queue) = queues.get_mut(key.as_slice()) {
                let was_first = queue.front().is_some_and(|(first, _)| *first == id);
                queue.retain(|(waiter, _)| *waiter != id);
                match queue.front() {
                    None => {
                        queues.remove(key.as_slice());
                    }
                    Some((_, next)) if was_first => next.ring(),
                    Some(_) => {}
                }
            }
        }
    }
}
