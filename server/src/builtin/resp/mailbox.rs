//! A connection's mailbox: the messages (published messages, invalidations, a replica's stream) other
//! connections and shards leave for it, bounded, until its own task writes them out.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use pincore_resp::reply::Protocol;

/// The messages published to one connection and not yet written to it.
pub struct Mailbox {
    /// The connection speaks RESP3: messages go out as push messages (`>`), else as arrays (`*`).
    resp3: AtomicBool,
    /// The connection subscribes to a channel or pattern: a RESP2 redirect target of CLIENT TRACKING
    /// gets invalidations only then, as in Redis.
    subscribed: AtomicBool,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Encoded messages the connection has not taken yet.
    bytes: Vec<u8>,
    /// Bytes the connection has taken and not yet written.
    taken: usize,
    /// The limit was passed: the connection must close.
    over: bool,
    /// The connection's task, while it waits for messages.
    waker: Option<Waker>,
}

/// A mailbox passed its limit; its connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflowed;

impl Mailbox {
    pub fn new(protocol: Protocol) -> Mailbox {
        Mailbox {
            resp3: AtomicBool::new(protocol == Protocol::Resp3),
            subscribed: AtomicBool::new(false),
            pending: Mutex::default(),
        }
    }

    /// The protocol the connection speaks.
    pub fn protocol(&self) -> Protocol {
        if self.resp3.load(Ordering::Relaxed) {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }

    pub fn subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    pub fn set_subscribed(&self, on: bool) {
        self.subscribed.store(on, Ordering::Relaxed);
    }

    /// Appends one message already encoded for this connection (an invalidation), bounded as any.
    pub fn deliver_raw(&self, encoded: &[u8], limit: usize) {
        self.deliver(encoded, limit, false);
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Every critical section is a few plain assignments and one append, which leave `Pending` whole.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one message encoded as a RESP2 array (its first byte becomes `>` for RESP3 when `push`), or,
    /// if that would pass `limit`, drops everything pending and marks the mailbox overflowed. Wakes the
    /// connection.
    pub(super) fn deliver(&self, encoded: &[u8], limit: usize, push: bool) {
        let waker = {
            let mut pending = self.lock();
            if pending.over {
                return;
            }
            if pending.bytes.len() + pending.taken + encoded.len() > limit {
                pending.over = true;
                pending.bytes = Vec::new();
            } else {
                let start = pending.bytes.len();
                pending.bytes.extend_from_slice(encoded);
                if push && self.resp3.load(Ordering::Relaxed) {
                    pending.bytes[start] = b'>';
                }
            }
            pending.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The protocol the connection speaks now (HELLO can change it while subscribed).
    pub fn set_protocol(&self, protocol: Protocol) {
        self.resp3
            .store(protocol == Protocol::Resp3, Ordering::Relaxed);
    }

    /// Moves the pending messages to the end of `out`; they count against the limit until
    /// [`Mailbox::written`].
    pub fn drain_into(&self, out: &mut Vec<u8>) -> Result<(), Overflowed> {
        let mut pending = self.lock();
        if pending.over {
            return Err(Overflowed);
        }
        if !pending.bytes.is_empty() {
            out.extend_from_slice(&pending.bytes);
            pending.taken += pending.bytes.len();
            pending.bytes.clear();
            if pending.bytes.capacity() > 64 * 1024 {
                pending.bytes = Vec::new();
            }
        }
        Ok(())
    }

    /// Everything taken so far has been written to the connection.
    pub fn written(&self) {
        self.lock().taken = 0;
    }

    /// Resolves when a message is pending or the mailbox overflowed.
    pub fn arrival(&self) -> impl Future<Output = ()> + '_ {
        Wait(self, |p: &Pending| p.over || !p.bytes.is_empty())
    }

    /// Resolves when the mailbox overflowed (to give up a write to a client that does not read).
    pub fn overflow(&self) -> impl Future<Output = ()> + '_ {
        Wait(self, |p: &Pending| p.over)
    }
}

/// Waits until the mailbox's state satisfies the condition.
struct Wait<'a, F>(&'a Mailbox, F);

impl<F: Fn(&Pending) -> bool + Unpin> Future for Wait<'_, F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut pending = self.0.lock();
        if (self.1)(&pending) {
            return Poll::Ready(());
        }
        pending.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
