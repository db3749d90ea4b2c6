//! Forwarding pipelined single-key commands in batches: the commands of one read that other shards own are
//! gathered per owning shard and sent as one mesh message per shard, whose one reply carries every command's
//! reply. Each command keeps its own slot in the connection's reply queue, so replies still go out in request
//! order, interleaved with local replies and fan-outs.
//!
//! Order on a key is kept because a key always has the same owner, each owner gets its batches in the order
//! they were sent, and every command that reaches other shards any other way sends the open batches first
//! ([`Outbox::send_all`]).

use std::cell::RefCell;
use std::rc::Rc;

use crate::command::Command;
use crate::mesh::{BatchReplies, CommandBatch, Op, Outcome, Ticket};
use crate::shard::Shard;

/// A batch is sent once it holds this many commands...
const MAX_COMMANDS: usize = 256;
/// ...or this many argument bytes, so a pipeline cannot grow one message without bound.
const MAX_BYTES: usize = 64 * 1024;

/// The batches being filled for other shards, by shard index (one connection's).
#[derive(Default)]
pub struct Outbox {
    open: Vec<Option<(CommandBatch, Rc<BatchSlot>)>>,
}

impl Outbox {
    /// Adds a command for `owner` (another shard) and returns where its reply will be.
    pub async fn push(
        &mut self,
        shard: &Rc<Shard>,
        owner: usize,
        command: Command,
        args: &[&[u8]],
    ) -> InBatch {
        if self.open.len() <= owner {
            self.open.resize_with(shard.count.max(owner + 1), || None);
        }
        let (batch, slot) = self.open[owner].get_or_insert_with(Default::default);
        let index = batch.len();
        batch.push(command, args);
        let slot = slot.clone();
        if batch.len() >= MAX_COMMANDS || batch.size() >= MAX_BYTES {
            self.send(shard, owner).await;
        }
        InBatch { slot, index }
    }

    /// Sends every open batch.
    pub async fn send_all(&mut self, shard: &Rc<Shard>) {
        for owner in 0..self.open.len() {
            self.send(shard, owner).await;
        }
    }

    async fn send(&mut self, shard: &Rc<Shard>, owner: usize) {
        if let Some((batch, slot)) = self.open[owner].take() {
            let ticket = shard.call(owner, Op::Batch(batch)).await;
            *slot.state.borrow_mut() = State::Sent(ticket);
        }
    }
}

/// One batch's reply, shared by the reply slots of its commands.
#[derive(Default)]
pub struct BatchSlot {
    state: RefCell<State>,
}

#[derive(Default)]
enum State {
    /// Still being filled.
    #[default]
    Open,
    Sent(Ticket),
    /// The replies, or `None` if the owning shard could not answer.
    Answered(Option<BatchReplies>),
}

/// One forwarded command's place in a batch.
pub struct InBatch {
    slot: Rc<BatchSlot>,
    index: usize,
}

impl InBatch {
    /// Appends this command's reply to `out` (waiting for the batch's reply if it has not come yet); false if
    /// the owning shard could not answer. The batch must have been sent.
    pub async fn reply_into(self, out: &mut Vec<u8>) -> bool {
        let sent = {
            let mut state = self.slot.state.borrow_mut();
            match std::mem::take(&mut *state) {
                State::Sent(ticket) => Some(ticket),
                other => {
                    *state = other;
                    None
                }
            }
        };
        if let Some(ticket) = sent {
            let replies = match ticket.await {
                Outcome::Batch(replies) => Some(replies),
                _ => None,
            };
            *self.slot.state.borrow_mut() = State::Answered(replies);
        }
        match &*self.slot.state.borrow() {
            State::Answered(Some(replies)) => match replies.get(self.index) {
                Some(reply) => {
                    out.extend_from_slice(reply);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}
