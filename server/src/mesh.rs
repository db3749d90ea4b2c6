//! Messages between shards over glommio's bounded channel mesh, and the replies that come back.
//!
//! Two full meshes connect every pair of shards: requests ([`Envelope`]) and replies ([`Reply`]). Each shard
//! serves its peers' requests on its own keys and matches replies to waiting requests by id in a shard-local
//! table ([`Pending`]), so a connection can send several requests before awaiting any and still collect replies
//! in request order. Reply channels are always drained without blocking, so no cycle of full channels can
//! deadlock two shards.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::command::Command;
use crate::config::Config;
use crate::metrics::ShardSnapshot;

/// A parsed command copied out of a connection's read buffer, to be executed on the owning shard.
#[derive(Debug)]
pub struct OwnedCommand {
    pub bytes: Vec<u8>,
    pub args: Vec<Range<usize>>,
}

impl OwnedCommand {
    pub fn new(args: &[&[u8]]) -> OwnedCommand {
        let mut bytes = Vec::with_capacity(args.iter().map(|a| a.len()).sum());
        let mut ranges = Vec::with_capacity(args.len());
        for arg in args {
            let start = bytes.len();
            bytes.extend_from_slice(arg);
            ranges.push(start..bytes.len());
        }
        OwnedCommand {
            bytes,
            args: ranges,
        }
    }

    pub fn args(&self) -> Vec<&[u8]> {
        self.args.iter().map(|r| &self.bytes[r.clone()]).collect()
    }
}

/// What one shard asks of another.
#[derive(Debug)]
pub enum Op {
    /// A single-key command on a key the receiver owns.
    Command(Command, OwnedCommand),
    MGet(Vec<Vec<u8>>),
    MSet(Vec<(Vec<u8>, Vec<u8>)>),
    Del(Vec<Vec<u8>>),
    Exists(Vec<Vec<u8>>),
    DbSize,
    FlushAll,
    /// This shard's metrics, for a scrape or INFO.
    Snapshot,
    /// Apply a reloaded configuration (only its live parts differ from the running one).
    Reconfigure(Box<Config>),
    /// Stop accepting and drain connections.
    Drain,
    /// Sent to shard 0: the sender has no connections left (or its drain deadline passed).
    Drained,
    /// Every shard has drained: stop.
    Exit,
}

/// What comes back.
#[derive(Debug)]
pub enum Outcome {
    /// An encoded RESP reply.
    Encoded(Vec<u8>),
    Values(Vec<Option<Vec<u8>>>),
    Count(i64),
    Done,
    Snapshot(Box<ShardSnapshot>),
    /// The owning shard could not be reached (it is shutting down).
    Unavailable,
}

/// A request with the id its reply will carry (0: no reply wanted).
#[derive(Debug)]
pub struct Envelope {
    pub id: u64,
    pub op: Op,
}

#[derive(Debug)]
pub struct Reply {
    pub id: u64,
    pub outcome: Outcome,
}

#[derive(Default)]
struct Slot {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

/// Requests sent by this shard that await their reply.
#[derive(Default)]
pub struct Pending {
    next: Cell<u64>,
    slots: RefCell<HashMap<u64, Slot>>,
}

impl Pending {
    /// A fresh id (never 0) with an empty slot.
    pub fn register(&self) -> u64 {
        let id = self.next.get().wrapping_add(1).max(1);
        self.next.set(id);
        self.slots.borrow_mut().insert(id, Slot::default());
        id
    }

    /// Stores a reply and wakes its waiter; a reply for an abandoned request is dropped.
    pub fn complete(&self, id: u64, outcome: Outcome) {
        let waker = match self.slots.borrow_mut().get_mut(&id) {
            Some(slot) => {
                slot.outcome = Some(outcome);
                slot.waker.take()
            }
            None => None,
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Fails every waiting request (a peer went away).
    pub fn fail_all(&self) {
        let wakers: Vec<Waker> = self
            .slots
            .borrow_mut()
            .values_mut()
            .filter(|slot| slot.outcome.is_none())
            .filter_map(|slot| {
                slot.outcome = Some(Outcome::Unavailable);
                slot.waker.take()
            })
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    pub fn abandon(&self, id: u64) {
        self.slots.borrow_mut().remove(&id);
    }

    fn poll_take(&self, id: u64, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(&id) else {
            return Poll::Ready(Outcome::Unavailable);
        };
        match slot.outcome.take() {
            Some(outcome) => {
                slots.remove(&id);
                Poll::Ready(outcome)
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The future result of a request: already known (local or failed), or awaiting a peer's reply.
pub enum Ticket {
    Ready(Option<Outcome>),
    Waiting { pending: Rc<Pending>, id: u64 },
}

impl Future for Ticket {
    type Output = Outcome;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match self.get_mut() {
            Ticket::Ready(outcome) => Poll::Ready(outcome.take().unwrap_or(Outcome::Unavailable)),
            Ticket::Waiting { pending, id } => pending.poll_take(*id, cx),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ticket::Waiting { pending, id } = self {
            pending.abandon(*id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_reach_their_ticket_and_late_replies_are_dropped() {
        let pending = Rc::new(Pending::default());
        let a = pending.register();
        let b = pending.register();
        assert_ne!(a, b);
        pending.complete(b, Outcome::Count(2));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut ticket_a = Ticket::Waiting {
            pending: pending.clone(),
            id: a,
        };
        assert!(Pin::new(&mut ticket_a).poll(&mut cx).is_pending());
        let mut ticket_b = Ticket::Waiting {
            pending: pending.clone(),
            id: b,
        };
        assert!(matches!(
            Pin::new(&mut ticket_b).poll(&mut cx),
            Poll::Ready(Outcome::Count(2))
        ));
        drop(ticket_a);
        pending.complete(a, Outcome::Done);
        assert!(pending.slots.borrow().is_empty());
    }
}
