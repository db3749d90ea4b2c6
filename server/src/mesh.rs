//! Messages between shards over glommio's bounded channel mesh, and the replies that come back.
//!
//! Two full meshes connect every pair of shards: requests ([`Envelope`]) and replies ([`Reply`]). They carry
//! control and housekeeping (metrics snapshots for INFO and scrapes, reloads, drain) and the jobs a service
//! sends to its instance on another shard ([`Op::Run`], see [`crate::framework::Context::on_shard`]). Each shard matches replies to waiting requests by id in a shard-local
//! table ([`Pending`]), so a connection can send several requests before awaiting any and still collect replies
//! in request order. Reply channels are always drained without blocking, so no cycle of full channels can
//! deadlock two shards.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use std::any::Any;

use crate::config::Config;
use crate::framework::settings::AnySettings;
use crate::metrics::ShardSnapshot;
use crate::tls::Acceptor;

/// A future of any service, as the engine spawns it.
pub(crate) type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A service's job for another shard: given that shard's instance of the service, the future of its reply
/// (`None`: the instance is not of the expected type).
pub type Job = Box<dyn FnOnce(Rc<dyn Any>) -> LocalFuture<Option<Box<dyn Any + Send>>> + Send>;

/// What one shard asks of another.
pub enum Op {
    /// This shard's metrics, for a scrape or INFO.
    Snapshot,
    /// Apply a reloaded configuration (only its live parts differ from the running one) and each service's
    /// new settings, by service index, unless this shard already applied a newer one (the first field is
    /// the change's number, see `Shared::config_version`), with each service's TLS configuration read from
    /// the files anew.
    Reconfigure(u64, Box<Config>, Vec<AnySettings>, Vec<Option<Acceptor>>),
    /// Run a service's job on this shard's instance of service number `service`.
    Run { service: usize, job: Job },
    /// Stop accepting and drain connections.
    Drain,
    /// Have every service write (`save`) or read its state for a listener handoff, under `dir`.
    State { save: bool, dir: std::path::PathBuf },
    /// Sent to shard 0: the sender has no connections left (or its drain deadline passed).
    Drained,
    /// Every shard has drained: stop.
    Exit,
}

/// What comes back.
pub enum Outcome {
    Done,
    Snapshot(Box<ShardSnapshot>),
    /// What an [`Op::State`] could not do, one line per service.
    State(Vec<String>),
    /// What a [`Op::Run`] job returned.
    Ran(Option<Box<dyn Any + Send>>),
    /// The shard could not be reached (it is shutting down).
    Unavailable,
}

/// A request with the id its reply will carry (0: no reply wanted).
pub struct Envelope {
    pub id: u64,
    pub op: Op,
}

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
        pending.complete(b, Outcome::Done);
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
            Poll::Ready(Outcome::Done)
        ));
        drop(ticket_a);
        pending.complete(a, Outcome::Done);
        assert!(pending.slots.borrow().is_empty());
    }
}
