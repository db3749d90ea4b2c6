//! The byte stream a service reads and writes: plain TCP, or TLS over it when the service's section has a
//! `tls:` key. Services are written once against [`Stream`] and get TLS by configuration.
//!
//! A plain connection costs one `match` per read or write over the bare glommio stream: no copy, no
//! allocation, no buffer in between. A TLS connection goes through rustls (`futures-rustls`), which keeps
//! records it has not yet sent: writers flush after each reply ([`super::write_within`] does).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// An accepted connection's stream: plain TCP or TLS.
pub enum Stream {
    Plain(TcpStream),
    /// Boxed: the TLS state is large and plain connections should not carry its size.
    Tls(Box<futures_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// True when the connection is encrypted (the bytes on the socket are not the service's bytes).
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The TCP stream underneath. On a TLS connection, reading or writing it directly breaks the session:
    /// use it for socket options and readiness only.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// The plain TCP stream, for zero-copy paths (`sendfile`, `splice`) that only work when the bytes on
    /// the socket are the service's own; `None` on a TLS connection.
    pub fn plain(&mut self) -> Option<&mut TcpStream> {
        match self {
            Stream::Plain(tcp) => Some(tcp),
            Stream::Tls(_) => None,
        }
    }

    /// Waits until the peer has sent something (or closed), without consuming it; `Ok(0)` is end of
    /// input. On TLS this looks at the socket, so a record that carries no data (a key update) also
    /// counts as something.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp().peek(buf).await.map_err(io::Error::from)
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
        }
    }
}
