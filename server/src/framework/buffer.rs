//! A connection's input buffer with a hard size limit, for framed protocols (lines, length prefixes).

use std::time::Duration;

use super::service::{Connection, ReadError, Service};

/// Bytes received and not yet consumed, never more than `max`: a client cannot make the server hold more
/// than that for it, however it frames (or fails to frame) its requests.
pub struct InputBuffer {
    buf: Vec<u8>,
    start: usize,
    max: usize,
}

impl InputBuffer {
    /// An empty buffer that holds at most `max` bytes (at least 1).
    pub fn new(max: usize) -> InputBuffer {
        InputBuffer {
            buf: Vec::with_capacity(max.clamp(1, 16 * 1024)),
            start: 0,
            max: max.max(1),
        }
    }

    /// The bytes received and not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Drops the first `n` bytes of [`InputBuffer::data`] (all of it when `n` is larger).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Takes the next complete line (without its `\n`, and a `\r` before it), or `None` until one arrived.
    pub fn line(&mut self) -> Option<Vec<u8>> {
        let end = self.data().iter().position(|&b| b == b'\n')?;
        let mut line = self.data()[..end].to_vec();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.consume(end + 1);
        Some(line)
    }

    /// The next line from `conn`, reading as needed within `within` per read; `Ok(None)` at end of input,
    /// [`ReadError::TooLarge`] for a line longer than the buffer.
    pub async fn read_line<S: Service>(
        &mut self,
        conn: &mut Connection<S>,
        within: Duration,
    ) -> Result<Option<Vec<u8>>, ReadError> {
        loop {
            if let Some(line) = self.line() {
                return Ok(Some(line));
            }
            if self.fill(conn, within).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads more bytes from `conn`, within `within`. `Ok(0)` is end of input; [`ReadError::TooLarge`]
    /// means the buffer is full: the peer sent more than `max` bytes without a complete frame.
    pub async fn fill<S: Service>(
        &mut self,
        conn: &mut Connection<S>,
        within: Duration,
    ) -> Result<usize, ReadError> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        if len >= self.max {
            return Err(ReadError::TooLarge);
        }
        let room = (self.max - len).min(64 * 1024);
        self.buf.resize(len + room, 0);
        let read = conn.read(&mut self.buf[len..], within).await;
        self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_keeps_the_rest_and_empties_cleanly() {
        let mut b = InputBuffer::new(8);
        b.buf.extend_from_slice(b"abc\ndef");
        b.consume(4);
        assert_eq!(b.data(), b"def");
        b.consume(100);
        assert_eq!(b.data(), b"");
        assert_eq!(b.start, 0);
    }

    #[test]
    fn lines_come_out_whole_without_their_ending() {
        let mut b = InputBuffer::new(64);
        b.buf.extend_from_slice(b"one\r\ntwo\nthr");
        assert_eq!(b.line().as_deref(), Some(&b"one"[..]));
        assert_eq!(b.line().as_deref(), Some(&b"two"[..]));
        assert_eq!(b.line(), None);
        assert_eq!(b.data(), b"thr");
    }
}
