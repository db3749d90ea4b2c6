//! The network services: accept loops and the per-connection handlers of each service.
//!
//! Every connection is admitted against the shard's limits before it gets a task, every read is bounded in
//! time — echo and admin reads by a `glommio::timer::timeout` per read, RESP reads by one watchdog per
//! connection ([`deadline::ReadDeadline`]); glommio's own `set_read_timeout` misbehaves when a read future is
//! dropped — and every write is bounded by the idle timeout.

pub mod admin;
pub mod deadline;
pub mod dispatch;
pub mod echo;
pub mod info;
pub mod resp;

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::GlommioError;

use crate::listener::Service;
use crate::shard::Shard;

/// Accepts connections for `service` until the shard stops accepting (drain), then closes the listener.
pub async fn accept_loop(shard: Rc<Shard>, service: Service, listener: TcpListener) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            shard.stop_accepting.wait().await;
            None
        })
        .await;
        let Some(accepted) = accepted else { break };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                // EMFILE/ENFILE and friends: back off instead of spinning on the same error.
                tracing::warn!(shard = shard.id, service = service.name(), error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let ip = stream
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let admission = match shard.admit(service, ip, stream.as_raw_fd()) {
            Ok(admission) => admission,
            Err(why) => {
                shard.metrics.rejected(service, why);
                tracing::debug!(shard = shard.id, service = service.name(), %ip, reason = why.as_str(), "connection rejected");
                continue; // dropping the stream closes it at once
            }
        };
        let _ = stream.set_nodelay(true);
        let shard = shard.clone();
        glommio::spawn_local(async move {
            match service {
                Service::Resp => resp::serve(&shard, stream).await,
                Service::Echo => echo::serve(&shard, stream).await,
                Service::Admin => admin::serve(&shard, stream, &admission).await,
            }
            drop(admission);
        })
        .detach();
    }
    tracing::debug!(
        shard = shard.id,
        service = service.name(),
        "stopped accepting"
    );
}

/// Why a bounded read did not return data.
#[derive(Debug)]
pub enum ReadError {
    TimedOut,
    Io(std::io::Error),
}

/// Reads once into `buf`, giving up after `limit`. `Ok(0)` is end of input.
pub async fn read_within(
    stream: &mut TcpStream,
    buf: &mut [u8],
    limit: Duration,
) -> Result<usize, ReadError> {
    let read = glommio::timer::timeout(limit, async {
        stream.read(buf).await.map_err(GlommioError::from)
    })
    .await;
    match read {
        Ok(n) => Ok(n),
        Err(GlommioError::TimedOut(_)) => Err(ReadError::TimedOut),
        Err(e) => Err(ReadError::Io(e.into())),
    }
}

/// Writes all of `data`, giving up after `limit` (a client that stops reading its replies).
pub async fn write_within(
    stream: &mut TcpStream,
    data: &[u8],
    limit: Duration,
) -> Result<(), ReadError> {
    let write = glommio::timer::timeout(limit, async {
        stream.write_all(data).await.map_err(GlommioError::from)
    })
    .await;
    match write {
        Ok(()) => Ok(()),
        Err(GlommioError::TimedOut(_)) => Err(ReadError::TimedOut),
        Err(e) => Err(ReadError::Io(e.into())),
    }
}
