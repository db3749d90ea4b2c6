//! The `echo` service: every byte read is written back (a sockperf ping-pong server).

use crate::framework::{Connection, ReadError, Service};

pub struct Echo;

impl Service for Echo {
    const NAME: &'static str = "echo";
    type Settings = ();

    async fn serve(&self, mut conn: Connection<Self>) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let idle = conn.context().config().timeouts.idle();
            let n = match conn.read(&mut buf, idle).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(ReadError::TimedOut) => {
                    conn.context().error("idle_timeout");
                    break;
                }
                Err(e) => {
                    tracing::debug!(shard = conn.context().shard_id(), error = %e, "read failed; closing the connection");
                    break;
                }
            };
            if conn.write(&buf[..n], idle).await.is_err() {
                break;
            }
        }
    }
}
