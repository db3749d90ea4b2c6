//! Moving a response onto the socket: the head with `send(2)`, the body with `sendfile(2)` from the page
//! cache, never through a user-space buffer.
//!
//! The connection's socket is made `O_NONBLOCK` when it is accepted (glommio's own reads and writes use
//! `MSG_DONTWAIT` and io_uring polls, so they do not depend on the descriptor's mode), so `sendfile` returns
//! what fits in the socket buffer and `EAGAIN` when nothing does; the transfer then awaits writability
//! through the reactor (`TcpStream::writable`, see vendor/README.md). A client that stops reading thus
//! costs a parked task and no memory; after `within` without room it is closed.
//!
//! Where the kernel refuses `sendfile` for a file (`EINVAL`, `ENOSYS`: some file systems), the connection
//! is TLS (the bytes must be encrypted in user space), or `settings.sendfile` is false, the body is read in
//! 64 KiB pieces — on the shard from the page cache (`RWF_NOWAIT`), on the blocking pool when a piece would
//! wait for the disk — and written; each such response is counted, by reason.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use glommio::GlommioError;

use super::Files;
use crate::framework::{Connection, ReadError};

/// One `sendfile` call moves at most this much; the task then goes to the back of the shard's queue.
const CHUNK: usize = 1 << 20;
/// The read-and-write fallback's piece.
const FALLBACK_PIECE: usize = 64 << 10;

/// Why a response could not be completed: the connection must close.
#[derive(Debug)]
pub enum Stop {
    /// The client took nothing for the write timeout.
    TimedOut,
    /// The file ended before the announced length (truncated meanwhile).
    Truncated,
    Io(io::Error),
}

impl From<ReadError> for Stop {
    fn from(e: ReadError) -> Stop {
        match e {
            ReadError::TimedOut => Stop::TimedOut,
            ReadError::Io(e) => Stop::Io(e),
            ReadError::TooLarge => Stop::Io(io::Error::from(io::ErrorKind::InvalidData)),
        }
    }
}

/// Makes the connection's socket non-blocking, for `sendfile`.
pub fn make_nonblocking(conn: &mut Connection<Files>) -> io::Result<()> {
    let fd = conn.stream().as_raw_fd();
    // SAFETY: fcntl on a descriptor the connection owns; results are checked.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends all of `head`; `more` says a body follows at once (the head then waits for it in the kernel,
/// `MSG_MORE`, so a small file leaves in the head's segment).
pub async fn send_head(
    conn: &mut Connection<Files>,
    head: &[u8],
    more: bool,
    within: Duration,
) -> Result<(), Stop> {
    if conn.stream().is_tls() {
        return conn.write(head, within).await.map_err(Stop::from);
    }
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    let mut sent = 0;
    while sent < head.len() {
        let fd = conn.stream().as_raw_fd();
        let rest = &head[sent..];
        // SAFETY: `rest` is valid for its length; the result is checked.
        let n = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), flags) };
        if n >= 0 {
            sent += n as usize;
            conn.count_out(n as usize);
            continue;
        }
        retry_or_stop(conn, io::Error::last_os_error(), within).await?;
    }
    Ok(())
}

/// What a body transfer did, for the service's counters.
pub enum Sent {
    ZeroCopy,
    /// The kernel refused `sendfile`; the body was read and written.
    Fallback,
    /// The connection is TLS; the body was read, encrypted and written.
    Encrypted,
    /// `settings.sendfile` is false; the body was read and written.
    Configured,
}

/// Sends `len` bytes of `file` from `offset`, with `sendfile` when `zero_copy` allows it.
pub async fn send_body(
    conn: &mut Connection<Files>,
    file: &File,
    offset: u64,
    len: u64,
    zero_copy: bool,
    within: Duration,
) -> Result<Sent, Stop> {
    if conn.stream().is_tls() {
        copy_body(conn, file, offset, len, within).await?;
        return Ok(Sent::Encrypted);
    }
    if !zero_copy {
        copy_body(conn, file, offset, len, within).await?;
        return Ok(Sent::Configured);
    }
    let end = offset + len;
    let mut at = offset as libc::off_t;
    while (at as u64) < end {
        let fd = conn.stream().as_raw_fd();
        let count = (end - at as u64).min(CHUNK as u64) as usize;
        // SAFETY: both descriptors are open for the call; `at` is a valid offset pointer.
        let n = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut at, count) };
        if n > 0 {
            conn.count_out(n as usize);
            if (at as u64) < end {
                // To the back of the shard's queue after each call, so that a fast reader of a large
                // file does not keep the shard from the other connections until the preemption timer.
                futures_lite::future::yield_now().await;
            }
            continue;
        }
        if n == 0 {
            return Err(Stop::Truncated);
        }
        let error = io::Error::last_os_error();
        if at as u64 == offset && matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
        {
            copy_body(conn, file, offset, len, within).await?;
            return Ok(Sent::Fallback);
        }
        retry_or_stop(conn, error, within).await?;
    }
    Ok(Sent::ZeroCopy)
}

/// Continues after a failed send: waits for room on `EAGAIN`, retries on `EINTR`, else stops.
async fn retry_or_stop(
    conn: &mut Connection<Files>,
    error: io::Error,
    within: Duration,
) -> Result<(), Stop> {
    match error.kind() {
        io::ErrorKind::Interrupted => Ok(()),
        io::ErrorKind::WouldBlock => {
            // Only the zero-copy paths come here, and they run on plain TCP only.
            let Some(stream) = conn.stream().plain() else {
                return Err(Stop::Io(error));
            };
            let waited = glommio::timer::timeout(within, stream.writable()).await;
            match waited {
                Ok(()) => Ok(()),
                Err(GlommioError::TimedOut(_)) => Err(Stop::TimedOut),
                Err(e) => Err(Stop::Io(e.into())),
            }
        }
        _ => Err(Stop::Io(error)),
    }
}

/// The fallback: each piece read on the shard when the page cache holds it (`preadv2` with `RWF_NOWAIT`,
/// which never waits for the disk), else on the blocking pool; then written.
async fn copy_body(
    conn: &mut Connection<Files>,
    file: &File,
    offset: u64,
    len: u64,
    within: Duration,
) -> Result<(), Stop> {
    let mut owned: Option<File> = None;
    let mut piece = vec![0u8; (len as usize).min(FALLBACK_PIECE)];
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(FALLBACK_PIECE as u64) as usize;
        let at = offset + done;
        let read = match read_cached(file, &mut piece[..want], at) {
            Some(read) => read,
            None => {
                let mut off_shard = match owned.take() {
                    Some(file) => file,
                    None => file.try_clone().map_err(Stop::Io)?,
                };
                let (back, buf, read) = conn
                    .context()
                    .spawn_blocking(move || {
                        use std::os::unix::fs::FileExt;
                        let read = off_shard.read_at(&mut piece[..want], at);
                        (off_shard, piece, read)
                    })
                    .await;
                (off_shard, piece) = (back, buf);
                owned = Some(off_shard);
                read
            }
        };
        let n = match read.map_err(Stop::Io)? {
            0 => return Err(Stop::Truncated),
            n => n,
        };
        conn.write(&piece[..n], within).await?;
        done += n as u64;
        // Pieces read from the page cache never wait: the other connections get their turn after each.
        if done < len {
            futures_lite::future::yield_now().await;
        }
    }
    Ok(())
}

/// Reads from the page cache only: `None` when that would wait for the disk (`EAGAIN`) or the file
/// system cannot say (`EOPNOTSUPP`, or a kernel without `RWF_NOWAIT` for reads: `EINVAL`).
fn read_cached(file: &File, buf: &mut [u8], at: u64) -> Option<io::Result<usize>> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, valid and writable for the call; the result is checked.
    let n = unsafe {
        libc::preadv2(
            file.as_raw_fd(),
            &iov,
            1,
            at as libc::off_t,
            libc::RWF_NOWAIT,
        )
    };
    if n >= 0 {
        return Some(Ok(n as usize));
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::EINVAL) => None,
        _ => Some(Err(error)),
    }
}
