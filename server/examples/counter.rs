//! A line-protocol counter service: `INCR name [by]` and `GET name`, one command per line, one reply line each.
//!
//! The idea on this page: a service of your own in a page, with bounded input and a metric of its own. The
//! counters are shared by every shard (an `Arc` the factory captures), lines are read through an
//! `InputBuffer` that never holds more than 1 KiB for a client, and each increment is counted in
//! `counter_increments_total`, which the built-in admin service shows at `/metrics`. The counts survive an
//! upgrade in place: `hand_over` writes them for the successor, whose `take_over` reads them back before it
//! accepts a connection.
//!
//! ```text
//! cargo run --example counter -- --config counter.yaml --handoff-socket /run/counter.sock
//! services: {counter: {listen: 127.0.0.1:7100}, admin: {listen: 127.0.0.1:9180}}
//! # later, a new build takes over without refusing a connection, counts and all:
//! counter --config counter.yaml --handoff-socket /run/counter.sock --upgrade-from /run/counter.sock
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use pincore_server::builtin::admin::Admin;
use pincore_server::framework::{Connection, Counter, InputBuffer, ReadError, Server, Service};

struct Counters {
    values: Arc<Mutex<HashMap<String, i64>>>,
    increments: Counter,
    /// The counts are shared, so one shard's instance hands them over.
    shard: usize,
}

/// Where the counts go for the successor, in `dir`.
const HANDED_OVER: &str = "counts";

impl Counters {
    /// The reply to one line (without its newline).
    fn answer(&self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        // A poisoned lock only means another connection panicked mid-update; the map is still usable.
        let mut values = self.values();
        match words[..] {
            ["INCR", name] | ["INCR", name, _] => {
                let by = match words.get(2).map(|w| w.parse::<i64>()) {
                    None => 1,
                    Some(Ok(by)) => by,
                    Some(Err(_)) => return "ERR the increment is not an integer".into(),
                };
                let value = values.entry(name.to_string()).or_insert(0);
                *value = value.saturating_add(by);
                self.increments.inc();
                value.to_string()
            }
            ["GET", name] => values.get(name).copied().unwrap_or(0).to_string(),
            _ => "ERR commands are INCR name [by] and GET name".into(),
        }
    }

    fn values(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Service for Counters {
    const NAME: &'static str = "counter";
    type Settings = ();

    async fn serve(&self, mut conn: Connection<Self>) {
        let mut input = InputBuffer::new(1024);
        loop {
            let idle = conn.context().config().timeouts.idle();
            let line = match input.read_line(&mut conn, idle).await {
                Ok(Some(line)) => line,
                Err(ReadError::TooLarge) => {
                    let _ = conn.write(b"ERR line longer than 1024 bytes\n", idle).await;
                    return;
                }
                Ok(None) | Err(_) => return,
            };
            let reply = self.answer(String::from_utf8_lossy(&line).trim()) + "\n";
            if conn.write(reply.as_bytes(), idle).await.is_err() {
                return;
            }
        }
    }

    async fn hand_over(&self, dir: &Path) -> Result<(), String> {
        if self.shard != 0 {
            return Ok(());
        }
        let text: String = self
            .values()
            .iter()
            .map(|(name, value)| format!("{name} {value}\n"))
            .collect();
        std::fs::write(dir.join(HANDED_OVER), text).map_err(|e| e.to_string())
    }

    async fn take_over(&self, dir: &Path) -> Result<(), String> {
        let path = dir.join(HANDED_OVER);
        if self.shard != 0 || !path.exists() {
            return Ok(());
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut values = self.values();
        for line in text.lines() {
            let parsed = line
                .split_once(' ')
                .and_then(|(name, value)| Some((name, value.parse().ok()?)));
            let Some((name, value)) = parsed else {
                return Err(format!("{}: not a count: {line:?}", path.display()));
            };
            values.insert(name.to_string(), value);
        }
        Ok(())
    }
}

fn main() {
    let values = Arc::new(Mutex::new(HashMap::new()));
    let server = Server::new()
        .service(move |ctx| Counters {
            values: values.clone(),
            increments: ctx.counter("counter_increments_total", "INCR commands served.", &[]),
            shard: ctx.shard_id(),
        })
        .service(Admin::new);
    std::process::exit(server.main());
}
