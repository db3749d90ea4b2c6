//! The echo service: every byte read is written back (a sockperf ping-pong server).

use std::rc::Rc;

use glommio::net::TcpStream;

use super::{read_within, write_within, ReadError};
use crate::listener::Service;
use crate::shard::Shard;

pub async fn serve(shard: &Rc<Shard>, mut stream: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let idle = shard.config().timeouts.idle();
        let n = match read_within(&mut stream, &mut buf, idle).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(ReadError::TimedOut) => {
                shard.metrics.error("idle_timeout");
                break;
            }
            Err(ReadError::Io(e)) => {
                tracing::debug!(shard = shard.id, error = %e, "read failed; closing the connection");
                break;
            }
        };
        shard.metrics.bytes_in(Service::Echo, n);
        if write_within(&mut stream, &buf[..n], idle).await.is_err() {
            break;
        }
        shard.metrics.bytes_out(Service::Echo, n);
    }
}
