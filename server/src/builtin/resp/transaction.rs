//! A connection's MULTI queue: the commands EXEC will run, their arguments copied out of the read buffer.
//!
//! The queue is bounded like one request: at most `limits.max_array_len` commands and
//! `limits.max_request_bytes` bytes of arguments (each argument counted with 16 bytes for its place). A
//! command past either bound is refused and the transaction aborted (EXEC answers `-EXECABORT`); an aborted
//! transaction keeps nothing, as Redis's `queueMultiCommand` does not, so a client that pipelines on after an
//! error holds no memory for it.

use std::ops::Range;

use super::Resp;
use crate::framework::{Context, Counter};

/// What each argument costs in the queue besides its bytes: its place in the argument list.
const PER_ARGUMENT: usize = 16;

/// Why a command was not queued.
pub const TOO_LARGE: &[u8] = b"ERR transaction larger than limits.max_array_len commands or limits.max_request_bytes bytes; it will be discarded at EXEC";

/// The commands queued since MULTI.
#[derive(Default)]
pub struct Transaction {
    /// A command was refused while queueing: EXEC discards the transaction.
    aborted: bool,
    /// Per command: its table row and its arguments' places in `args`.
    commands: Vec<(usize, Range<usize>)>,
    /// Per argument: its bytes' place in `bytes`.
    args: Vec<Range<usize>>,
    bytes: Vec<u8>,
}

impl Transaction {
    /// Flags the transaction so that EXEC discards it, and frees what it queued.
    pub fn abort(&mut self) {
        *self = Transaction {
            aborted: true,
            ..Transaction::default()
        };
    }

    pub fn aborted(&self) -> bool {
        self.aborted
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// What the queue holds, in the units of its bound.
    fn cost(&self) -> usize {
        self.bytes.len() + self.args.len() * PER_ARGUMENT
    }

    /// Queues table row `command` with `args`, within `(max_commands, max_bytes)`; past them the transaction
    /// is aborted.
    pub fn push(
        &mut self,
        command: usize,
        args: &[&[u8]],
        (max_commands, max_bytes): (usize, usize),
    ) -> Result<(), &'static [u8]> {
        if self.aborted {
            return Ok(());
        }
        let adds: usize = args.iter().map(|a| a.len() + PER_ARGUMENT).sum();
        if self.commands.len() >= max_commands || self.cost() + adds > max_bytes {
            self.abort();
            return Err(TOO_LARGE);
        }
        let first = self.args.len();
        for arg in args {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(arg);
            self.args.push(start..self.bytes.len());
        }
        self.commands.push((command, first..self.args.len()));
        Ok(())
    }

    /// The queued commands' table rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.commands.iter().map(|(command, _)| *command)
    }

    /// Calls `f` with each queued command in order: its table row and its arguments (the name first), in
    /// one argument vector reused from command to command.
    pub fn each(&self, mut f: impl FnMut(usize, &[&[u8]])) {
        let mut argv: Vec<&[u8]> = Vec::new();
        for (command, args) in &self.commands {
            argv.clear();
            argv.extend(
                self.args[args.clone()]
                    .iter()
                    .map(|r| &self.bytes[r.clone()]),
            );
            f(*command, &argv);
        }
    }
}

/// What became of transactions, counted as `pincore_transactions_total{outcome}`.
pub struct Outcomes {
    /// EXEC ran the queue.
    pub committed: Counter,
    /// EXEC found a watched key changed and ran nothing.
    pub watch_aborted: Counter,
    /// EXEC discarded the queue: a command was refused while queueing, or `-OOM`.
    pub error_aborted: Counter,
    /// DISCARD.
    pub discarded: Counter,
}

impl Outcomes {
    pub fn register(ctx: &Context<Resp>) -> Outcomes {
        let counter = |outcome| {
            ctx.counter(
                "pincore_transactions_total",
                "MULTI transactions, by how they ended: exec, watch_aborted, error_aborted, discard.",
                &[("outcome", outcome)],
            )
        };
        Outcomes {
            committed: counter("exec"),
            watch_aborted: counter("watch_aborted"),
            error_aborted: counter("error_aborted"),
            discarded: counter("discard"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_come_back_in_order_with_their_arguments() {
        let mut t = Transaction::default();
        t.push(3, &[b"SET", b"k", b"v"], (10, 1000)).unwrap();
        t.push(2, &[b"GET", b""], (10, 1000)).unwrap();
        let mut queued: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
        t.each(|command, args| queued.push((command, args.iter().map(|a| a.to_vec()).collect())));
        let expected: Vec<(usize, Vec<Vec<u8>>)> = vec![
            (3, vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()]),
            (2, vec![b"GET".to_vec(), Vec::new()]),
        ];
        assert_eq!(queued, expected);
        assert_eq!(t.rows().collect::<Vec<_>>(), [3, 2]);
        assert!(!t.aborted());
    }

    #[test]
    fn past_either_bound_the_transaction_is_aborted_and_holds_nothing() {
        let mut t = Transaction::default();
        t.push(1, &[b"PING"], (1, 1000)).unwrap();
        assert_eq!(t.push(1, &[b"PING"], (1, 1000)), Err(TOO_LARGE));
        assert!(t.aborted() && t.is_empty() && t.bytes.capacity() == 0);
        assert_eq!(
            t.push(1, &[b"PING"], (1, 1000)),
            Ok(()),
            "ignored once aborted"
        );
        assert!(t.is_empty());

        let mut t = Transaction::default();
        let big = vec![b'x'; 100];
        t.push(1, &[b"SET", b"k", &big], (10, 200)).unwrap();
        assert_eq!(t.push(1, &[b"SET", b"k", &big], (10, 200)), Err(TOO_LARGE));
        assert!(t.aborted() && t.is_empty());
    }
}
