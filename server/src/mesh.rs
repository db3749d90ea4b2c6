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

/// Single-key commands for one shard, copied out of one read's pipeline into one buffer, to be executed on the
/// owning shard in order. The reply carries every command's encoded reply ([`BatchReplies`]).
#[derive(Debug, Default)]
pub struct CommandBatch {
    bytes: Vec<u8>,
    args: Vec<Range<usize>>,
    /// Each command with the range of its arguments in `args`.
    commands: Vec<(Command, Range<usize>)>,
}

impl CommandBatch {
    pub fn push(&mut self, command: Command, args: &[&[u8]]) {
        let first = self.args.len();
        for arg in args {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(arg);
            self.args.push(start..self.bytes.len());
        }
        self.commands.push((command, first..self.args.len()));
    }

    /// Commands in the batch.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Argument bytes held.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Calls `f` with each command and its arguments, in order.
    pub fn for_each(&self, mut f: impl FnMut(Command, &[&[u8]])) {
        let mut argv: Vec<&[u8]> = Vec::new();
        for (command, range) in &self.commands {
            argv.clear();
            argv.extend(
                self.args[range.clone()]
                    .iter()
                    .map(|r| &self.bytes[r.clone()]),
            );
            f(*command, &argv);
        }
    }
}

/// The encoded replies to a [`CommandBatch`], one after another, with where each ends.
#[derive(Debug, Default)]
pub struct BatchReplies {
    pub bytes: Vec<u8>,
    pub ends: Vec<usize>,
}

impl BatchReplies {
    /// The reply to the batch's `index`th command.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let end = *self.ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        self.bytes.get(start..end)
    }
}

/// What one shard asks of another.
#[derive(Debug)]
pub enum Op {
    /// Single-key commands on keys the receiver owns, executed in order.
    Batch(CommandBatch),
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
    /// The encoded replies to a [`Op::Batch`].
    Batch(BatchReplies),
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
    fn a_batch_keeps_commands_and_their_arguments_apart() {
        let mut batch = CommandBatch::default();
        batch.push(Command::Set, &[b"SET", b"k", b"v\r\n"]);
        batch.push(Command::Get, &[b"GET", b""]);
        assert_eq!((batch.len(), batch.size()), (2, 10));
        let mut seen = Vec::new();
        batch.for_each(|command, args| {
            seen.push((command, args.iter().map(|a| a.to_vec()).collect::<Vec<_>>()))
        });
        assert_eq!(
            seen,
            vec![
                (
                    Command::Set,
                    vec![b"SET".to_vec(), b"k".to_vec(), b"v\r\n".to_vec()]
                ),
                (Command::Get, vec![b"GET".to_vec(), Vec::new()]),
            ]
        );
        let replies = BatchReplies {
            bytes: b"+OK\r\n$-1\r\n".to_vec(),
            ends: vec![5, 10],
        };
        assert_eq!(replies.get(0), Some(&b"+OK\r\n"[..]));
        assert_eq!(replies.get(1), Some(&b"$-1\r\n"[..]));
        assert_eq!(replies.get(2), None);
    }

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
