//! What the engine does when a service misbehaves: a panic and a blocked shard.
//!
//! The idea on this page: containment. Each line a client sends is answered: `panic` panics in the handler,
//! `panic-job` sends a job that panics to the shard owning the key `k` (the caller gets an error, not a
//! panic), `block MS` holds the shard's thread for MS milliseconds without yielding (what a blocking call
//! on a shard does), anything else is echoed back. A panic closes that one connection and is counted in
//! `pincore_service_panics_total{service="misbehave"}`; the shard goes on serving every other connection
//! and service. A block is caught by the stall detector, which logs the service and how long it held the
//! CPU and counts it in `pincore_service_stalls_total`. Blocking work belongs in `Context::spawn_blocking`.

use std::time::Duration;

use pincore_server::builtin::admin::Admin;
use pincore_server::framework::{Connection, InputBuffer, Server, Service};

struct Misbehave;

impl Service for Misbehave {
    const NAME: &'static str = "misbehave";
    type Settings = ();

    async fn serve(&self, mut conn: Connection<Self>) {
        let mut input = InputBuffer::new(256);
        loop {
            let idle = conn.context().config().timeouts.idle();
            let Ok(Some(line)) = input.read_line(&mut conn, idle).await else {
                return;
            };
            let line = String::from_utf8_lossy(&line).into_owned();
            if line == "panic" {
                panic!("asked to panic");
            }
            if line == "panic-job" {
                let failed = conn
                    .context()
                    .on_owner(b"k", |_| async { panic!("asked to panic in a job") })
                    .await
                    .map(|()| "the job returned".to_string())
                    .unwrap_or_else(|e| e.to_string());
                if conn
                    .write(format!("{failed}\n").as_bytes(), idle)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            if let Some(ms) = line.strip_prefix("block ").and_then(|ms| ms.parse().ok()) {
                // Deliberately wrong: this holds the shard's thread (use spawn_blocking instead).
                std::thread::sleep(Duration::from_millis(ms));
            }
            if conn
                .write(format!("{line}\n").as_bytes(), idle)
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

fn main() {
    std::process::exit(
        Server::new()
            .service(|_| Misbehave)
            .service(Admin::new)
            .main(),
    );
}
