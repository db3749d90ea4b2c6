//! One client connection of the load generator: non-blocking socket, output and input buffers, and the
//! send (or intended send) time of every request still waiting for its reply.
//!
//! A request's bytes stay in the output buffer until its reply has arrived, so when the server closes the
//! connection cleanly between replies (a server draining for an upgrade does) the requests it did not
//! answer are sent again on the next connection ([`Connection::reopen`]).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// Largest input buffer a connection grows to for one reply (bigger replies are a protocol error here).
const MAX_INPUT: usize = 64 << 20;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Non-blocking connect in progress since this time (ns on the run's clock).
    Connecting { since: u64 },
    /// Established: requests may be sent.
    Ready,
    /// Closed after an error or timeout; reconnect at this time.
    Closed { retry_at: u64 },
}

/// What a read brought.
pub enum ReadOutcome {
    /// Bytes are buffered (possibly zero new ones).
    Open,
    /// The peer closed the connection cleanly (end of input); replies may be buffered before it.
    Ended,
    /// The read failed (a reset, say).
    Closed(io::Error),
}

pub struct Connection {
    pub stream: Option<TcpStream>,
    pub state: State,
    /// Requests not yet answered (from `out_answered`), written up to `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    out_answered: usize,
    /// Per request in flight (oldest first): its length in `out`.
    out_lens: VecDeque<usize>,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    /// Per request in flight (oldest first): the time latency is measured from.
    pub in_flight: VecDeque<u64>,
    /// Open loop: the intended send time of the next request.
    pub next_due: u64,
}

impl Connection {
    pub fn new(next_due: u64) -> Connection {
        Connection {
            stream: None,
            state: State::Closed { retry_at: 0 },
            out: Vec::with_capacity(16 * 1024),
            out_pos: 0,
            out_answered: 0,
            out_lens: VecDeque::new(),
            input: vec![0; 64 * 1024],
            in_start: 0,
            in_end: 0,
            in_flight: VecDeque::new(),
            next_due,
        }
    }

    /// Starts a non-blocking connect, registered under `token`.
    pub fn connect(
        &mut self,
        target: SocketAddr,
        registry: &Registry,
        token: Token,
        now: u64,
    ) -> io::Result<()> {
        let mut stream = TcpStream::connect(target)?;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        self.stream = Some(stream);
        self.state = State::Connecting { since: now };
        Ok(())
    }

    /// After a writable event while connecting: `Ok(true)` once established, `Ok(false)` while pending.
    pub fn finish_connect(&mut self) -> io::Result<bool> {
        let Some(stream) = self.stream.as_ref() else {
            return Ok(false);
        };
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        match stream.peer_addr() {
            Ok(_) => {
                stream.set_nodelay(true)?;
                self.state = State::Ready;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Closes the socket and forgets buffered bytes; returns how many requests were in flight.
    pub fn close(&mut self, registry: &Registry, retry_at: u64) -> usize {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream);
        }
        self.state = State::Closed { retry_at };
        self.out.clear();
        self.out_pos = 0;
        self.out_answered = 0;
        self.out_lens.clear();
        self.in_start = 0;
        self.in_end = 0;
        let lost = self.in_flight.len();
        self.in_flight.clear();
        lost
    }

    /// After the server closed the connection cleanly with no part of a reply pending: closes the socket,
    /// keeps every request in flight with its time, to be sent again on a new connection made right away.
    /// Returns how many requests will be sent again.
    pub fn reopen(&mut self, registry: &Registry) -> usize {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream);
        }
        self.state = State::Closed { retry_at: 0 };
        self.out_pos = self.out_answered;
        self.in_start = 0;
        self.in_end = 0;
        self.in_flight.len()
    }

    /// Appends one request, measured from `since`, with `encode` writing its bytes (then call
    /// [`Connection::flush`]).
    pub fn queue(&mut self, since: u64, encode: impl FnOnce(&mut Vec<u8>)) {
        let before = self.out.len();
        encode(&mut self.out);
        self.out_lens.push_back(self.out.len() - before);
        self.in_flight.push_back(since);
    }

    /// The oldest request got its reply: returns the time its latency counts from, `None` if no request
    /// was in flight.
    pub fn answered(&mut self) -> Option<u64> {
        let since = self.in_flight.pop_front()?;
        self.out_answered += self.out_lens.pop_front().unwrap_or(0);
        if self.out_answered == self.out.len() {
            // Everything sent was answered: start the buffer over.
            self.out.clear();
            self.out_pos = 0;
            self.out_answered = 0;
        } else if self.out_answered >= 16 * 1024 && self.out_answered * 2 >= self.out.len() {
            // Requests keep coming before the last is answered (open loop): drop the answered front.
            self.out.drain(..self.out_answered);
            self.out_pos = self.out_pos.saturating_sub(self.out_answered);
            self.out_answered = 0;
        }
        Some(since)
    }

    /// Writes buffered requests until done or the socket would block.
    pub fn flush(&mut self) -> io::Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        while self.out_pos < self.out.len() {
            match stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until the socket would block (edge-triggered polling needs that).
    pub fn read(&mut self) -> ReadOutcome {
        let Some(stream) = self.stream.as_mut() else {
            return ReadOutcome::Open;
        };
        loop {
            if self.in_end == self.input.len() {
                if self.in_start > 0 {
                    self.input.copy_within(self.in_start..self.in_end, 0);
                    self.in_end -= self.in_start;
                    self.in_start = 0;
                } else if self.input.len() < MAX_INPUT {
                    self.input.resize(self.input.len() * 2, 0);
                } else {
                    return ReadOutcome::Closed(io::Error::other(
                        "a reply larger than 64 MiB: lower --value-size",
                    ));
                }
            }
            match stream.read(&mut self.input[self.in_end..]) {
                Ok(0) => return ReadOutcome::Ended,
                Ok(n) => self.in_end += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return ReadOutcome::Closed(e),
            }
        }
    }

    /// The received bytes not yet consumed as replies.
    pub fn received(&self) -> &[u8] {
        &self.input[self.in_start..self.in_end]
    }

    /// Drops `n` bytes of one framed reply from the front of the input.
    pub fn consume(&mut self, n: usize) {
        self.in_start += n;
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        }
    }
}
