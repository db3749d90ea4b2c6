//! RESP2 and RESP3, the Redis serialization protocol, as pure functions over byte buffers.
//!
//! The server side reads commands with [`parse_command`] (or the resumable [`CommandParser`]) and writes
//! replies with the functions in [`reply`] (in RESP3 or its RESP2 form, per connection). The client side
//! (load generators, tests) writes commands with [`encode_command`] and reads replies with [`parse_reply`] or
//! the cheaper [`skip_reply`].
//!
//! This crate knows nothing about sockets, async runtimes or what a command means: it turns bytes into
//! argument ranges and values into bytes. Every parser takes [`Limits`] so that a hostile peer is rejected
//! from a header alone, before it can make the caller buffer a giant payload, and no parser panics or
//! allocates in proportion to a length the peer claims.
//!
//! ```
//! use pincore_resp::{parse_command, reply, Limits};
//!
//! let input = b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n";
//! let limits = Limits::default();
//! let mut args = Vec::new();
//! let mut out = Vec::new();
//! let mut start = 0;
//! while let Some(consumed) = parse_command(&input[start..], &limits, &mut args).unwrap() {
//!     let command = &input[start..start + consumed];
//!     match args.len() {
//!         0 => {} // an empty inline line: nothing to answer
//!         1 => reply::simple(&mut out, b"PONG"),
//!         _ => reply::bulk(&mut out, &command[args[1].clone()]),
//!     }
//!     start += consumed;
//! }
//! assert_eq!(out, b"$2\r\nhi\r\n+PONG\r\n");
//! ```

mod client;
mod command;
mod error;
mod inline;
mod line;
pub mod reply;

pub use client::{encode_command, parse_reply, skip_reply, Reply, MAX_REPLY_DEPTH};
pub use command::{parse_command, CommandParser};
pub use error::{ErrorKind, ProtocolError};

/// Limits against hostile peers, checked as soon as a header or line shows they are exceeded.
///
/// The defaults are Redis's own: `proto-max-bulk-len` 512 MiB, at most 1024 × 1024 arguments per command,
/// and 64 KiB for an inline command line. The same limits bound replies on the client side (the inline
/// limit then applies to simple-string, error and integer lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string accepted, in bytes.
    pub max_bulk_len: usize,
    /// Most elements accepted in one array (arguments of one command).
    pub max_array_len: usize,
    /// Longest inline command line accepted, in bytes, without its line end.
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_array_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
        }
    }
}
