//! A lossless end to connections when the server drains (SIGTERM or an upgrade in place).
//!
//! The drain shuts every connection's read side: a connection's next read past the requests it already has
//! then ends its input, so it answers those and its task ends at a request boundary. Closing the socket
//! there would lose a request the client sent meanwhile: the kernel answers a close with unread input by a
//! reset, which also throws away replies not yet sent. So the drain keeps each socket open past its task
//! through a duplicate of its descriptor, and once the task has ended half-closes it (`SHUT_WR`: the
//! client reads every reply, then end of input, and knows a request without a reply was never run), throws
//! away whatever arrives after, and closes once the client has closed too, or [`GRACE`] after the client
//! acknowledged everything sent, end of input included. The acknowledgement comes from the client's kernel,
//! not from the client: one that writes its next request before reading (most do) sends it after that
//! acknowledgement, and a socket closed then would answer the request with a reset instead of the end of
//! input the client is about to read. The grace covers that window; a client keeping an idle connection
//! open holds the process [`GRACE`] longer at most, not until the drain deadline.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// How long a half-closed socket whose client has acknowledged the end of input, but not closed, is still
/// held (and what it receives thrown away) before it is closed.
pub const GRACE: Duration = Duration::from_secs(1);

/// One connection's socket held by the drain.
struct Held {
    /// The connection's id in the shard's connection table (its task has ended once it is not there).
    id: u64,
    fd: OwnedFd,
    /// When its write side was shut.
    half_closed: Option<Instant>,
}

/// The sockets a draining shard holds until their clients close.
#[derive(Default)]
pub struct Lingering {
    held: Vec<Held>,
}

impl Lingering {
    /// Holds connection `id`'s socket `fd` open past its task. A descriptor that cannot be duplicated (the
    /// file limit) is not held: that connection closes as it would without this.
    pub fn hold(&mut self, id: u64, fd: RawFd) {
        // SAFETY: `fd` belongs to a connection registered in the shard's table, so it is open for the
        // duration of this call; the duplicate owns a descriptor of its own.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        match borrowed.try_clone_to_owned() {
            Ok(fd) => self.held.push(Held {
                id,
                fd,
                half_closed: None,
            }),
            Err(e) => {
                tracing::debug!(error = %e, "a connection's socket cannot be held through the drain")
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// One pass: half-closes the sockets whose connection task has ended (`open(id)` is false), throws away
    /// what their clients sent since, and lets go of those whose client has closed.
    pub fn sweep(&mut self, open: impl Fn(u64) -> bool) {
        self.held.retain_mut(|held| {
            let since = match held.half_closed {
                Some(since) => since,
                None => {
                    if open(held.id) {
                        return true;
                    }
                    // SAFETY: shutdown(2) on a descriptor this value owns.
                    unsafe { libc::shutdown(held.fd.as_raw_fd(), libc::SHUT_WR) };
                    *held.half_closed.insert(Instant::now())
                }
            };
            discard_input(held.fd.as_raw_fd());
            !settled(held.fd.as_raw_fd(), since.elapsed() >= GRACE)
        });
    }
}

/// Reads and drops what is buffered on `fd` (requests that came after the last answered one), without
/// blocking; bounded, the next sweep takes the rest.
fn discard_input(fd: RawFd) {
    let mut scratch = [0u8; 16 * 1024];
    for _ in 0..64 {
        // SAFETY: recv(2) into a buffer of the length given, on a descriptor the caller owns.
        let n = unsafe {
            libc::recv(
                fd,
                scratch.as_mut_ptr().cast(),
                scratch.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            return;
        }
    }
}

/// Whether the socket can be closed: the client has closed (any TCP state but established or waiting for
/// the acknowledgement of our end of input, or for the client's own), or it has acknowledged everything
/// sent to it, end of input included, and `grace_over`. A socket whose state cannot be read is let go.
fn settled(fd: RawFd, grace_over: bool) -> bool {
    // SAFETY: tcp_info is plain data, all zeroes is a valid value of it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `info`.
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    } == 0;
    const ESTABLISHED: u8 = 1;
    const FIN_WAIT1: u8 = 4;
    const FIN_WAIT2: u8 = 5;
    !ok || match info.tcpi_state {
        ESTABLISHED | FIN_WAIT1 => false,
        FIN_WAIT2 => grace_over,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    /// A connected pair over loopback: (client, server side).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn a_held_socket_half_closes_after_its_task_and_lets_go_once_the_client_closes() {
        let (mut client, server) = pair();
        let mut lingering = Lingering::default();
        lingering.hold(7, server.as_raw_fd());
        // The task still runs: nothing happens to the socket.
        lingering.sweep(|id| id == 7);
        assert!(!lingering.is_empty());
        (&server).write_all(b"+OK\r\n").unwrap();
        drop(server); // the task ends; the held duplicate keeps the socket open
        client.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap(); // a request sent too late to be answered
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        lingering.sweep(|_| false);
        while !lingering.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
            lingering.sweep(|_| false);
        }
        assert!(
            lingering.is_empty(),
            "let go once the client has the end of input"
        );
        // The client reads the reply, then a clean end of input: no reset, though its late request was
        // still unread when the task ended.
        let mut got = Vec::new();
        client.read_to_end(&mut got).expect("a clean end of input");
        assert_eq!(got, b"+OK\r\n");
    }

    #[test]
    fn a_request_sent_after_the_end_of_input_was_acknowledged_meets_the_end_of_input_not_a_reset() {
        let (mut client, server) = pair();
        let mut lingering = Lingering::default();
        lingering.hold(7, server.as_raw_fd());
        (&server).write_all(b"+OK\r\n").unwrap();
        drop(server);
        lingering.sweep(|_| false); // half-closed: the end of input is on its way
                                    // The client's kernel acknowledges it (FIN_WAIT2 here) before the client has read anything.
        std::thread::sleep(std::time::Duration::from_millis(50));
        lingering.sweep(|_| false);
        assert!(!lingering.is_empty(), "let go before the grace was over");
        // The client sends its next request without having read: it is thrown away, not reset.
        client.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        lingering.sweep(|_| false);
        let mut got = Vec::new();
        client
            .read_to_end(&mut got)
            .expect("the reply, then a clean end of input");
        assert_eq!(got, b"+OK\r\n");
        // After the grace the socket is let go even though the client never closed.
        let deadline = std::time::Instant::now() + GRACE + std::time::Duration::from_secs(5);
        while !lingering.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            lingering.sweep(|_| false);
        }
        assert!(lingering.is_empty());
    }

    #[test]
    fn without_holding_the_same_close_is_a_reset() {
        // What the drain avoids: a plain close with a request unread resets the connection.
        let (mut client, server) = pair();
        (&server).write_all(b"+OK\r\n").unwrap();
        client.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(server);
        let mut got = Vec::new();
        let read = client.read_to_end(&mut got);
        assert_eq!(
            read.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
    }
}
