//! The baseline echo server: what a user would write with tokio's multi-threaded runtime in a page, kept
//! here so `compare` can measure pincore-server's echo service against it.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::error::{BenchError, Result};

/// Serves echo on `listen` until the process is killed; `workers` runtime threads (0: one per CPU).
pub fn serve(listen: SocketAddr, workers: usize) -> Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_io();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    let runtime = builder
        .build()
        .map_err(|e| BenchError::io("starting the tokio runtime", e))?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| BenchError::io(format!("binding {listen}"), e))?;
        loop {
            let (mut socket, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of file descriptors or a connection reset before accept: keep serving the others.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::task::yield_now().await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if socket.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}
