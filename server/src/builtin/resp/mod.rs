//! The `resp` service: a Redis-protocol key-value store on a keyspace shared by every shard.
//!
//! `session.rs` is the connection (read buffer, pipelining, deadlines), `dispatch.rs` runs a command from
//! the table in `commands/` (one file per family), `info.rs` renders INFO, `kv.rs` is what the single-key
//! commands mean on a [`store::Store`], and `keyspace.rs` the parts every shard locks. It is written against
//! the public framework API only.

pub mod auth;
pub mod blocking;
pub mod commands;
mod dispatch;
pub mod eviction;
pub mod expiry;
mod info;
pub mod keyspace;
pub mod kv;
mod session;
pub mod store;
pub mod types;

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyspace::Keyspace;

use crate::framework::{Connection, Context, Counter, Histogram, Service};

/// Series the INFO command reads back from every shard's snapshot.
const COMMANDS_TOTAL: &str = "pincore_commands_total";
const KEYS: &str = "pincore_keys";
const KEYS_EXPIRING: &str = "pincore_keys_expiring";
const EVICTED_KEYS: &str = "pincore_evicted_keys_total";

/// One shard's instance of the key-value service.
pub struct Resp {
    ctx: Context<Resp>,
    keyspace: Arc<Keyspace>,
    /// Per table row (and one for unknown commands): calls and their latency.
    calls: Vec<Counter>,
    took: Vec<Histogram>,
    auth_failures: Counter,
    /// Keys this shard's commands evicted to stay under `maxmemory`.
    evicted: Counter,
    /// Bytes this shard's connections hold in read buffers beyond their first 16 KiB each
    /// (`limits.max_read_buffer_bytes_per_shard`).
    read_buffers: std::cell::Cell<usize>,
}

impl Service for Resp {
    const NAME: &'static str = "resp";
    type Settings = auth::RespSettings;

    async fn serve(&self, conn: Connection<Self>) {
        session::serve(self, conn).await
    }

    fn on_reload(&self, settings: &auth::RespSettings) {
        self.keyspace
            .set_limit(settings.max_memory_bytes, settings.eviction_policy);
    }
}

impl Resp {
    /// The instance of shard `ctx` on `keyspace`: registers its metrics and starts its share of the expiry
    /// sweep.
    pub fn new(ctx: &Context<Resp>, keyspace: Arc<Keyspace>) -> Resp {
        let labels: Vec<&str> = (0..=commands::UNKNOWN).map(commands::label).collect();
        let calls = labels
            .iter()
            .map(|c| {
                ctx.counter(
                    COMMANDS_TOTAL,
                    "RESP commands served, by command.",
                    &[("command", c)],
                )
            })
            .collect();
        let took = labels
            .iter()
            .map(|c| {
                ctx.histogram(
                    "pincore_command_duration_seconds",
                    "Time from parsing a command to its reply being ready, all shards.",
                    &[("command", c)],
                )
            })
            .collect();
        let (shard, shards) = (ctx.shard_id(), ctx.shards());
        type Pick = fn((usize, usize, usize)) -> usize;
        let gauges: [(&str, &str, Pick); 3] = [
            (
                KEYS,
                "Keys stored, by the shard that sweeps their keyspace parts.",
                |c| c.0,
            ),
            (
                KEYS_EXPIRING,
                "Keys with a time to live, by the shard that sweeps their keyspace parts.",
                |c| c.1,
            ),
            (
                "pincore_keyspace_bytes",
                "Bytes the keys cost (what maxmemory bounds), by the shard that sweeps their keyspace parts.",
                |c| c.2,
            ),
        ];
        for (name, help, pick) in gauges {
            let counted = keyspace.clone();
            ctx.gauge(name, help, &[], move || {
                pick(counted.counts_of(shard, shards)) as u64
            });
        }
        ctx.spawn_housekeeping(sweep_expired(ctx.clone(), keyspace.clone()));
        let auth_failures = ctx.counter(
            "pincore_auth_failures_total",
            "AUTH and HELLO ... AUTH attempts refused (unknown user or wrong password).",
            &[],
        );
        let evicted = ctx.counter(
            EVICTED_KEYS,
            "Keys evicted to keep the keyspace under maxmemory.",
            &[],
        );
        let settings = ctx.settings();
        keyspace.set_limit(settings.max_memory_bytes, settings.eviction_policy);
        Resp {
            ctx: ctx.clone(),
            keyspace,
            calls,
            took,
            auth_failures,
            evicted,
            read_buffers: std::cell::Cell::new(0),
        }
    }

    /// Whether clients must authenticate before running commands (read per call: SIGHUP can change it).
    fn needs_auth(&self) -> bool {
        self.ctx.settings().required()
    }

    /// Checks a username and password (see [`auth`]); a failure is counted.
    fn authenticate(&self, user: &[u8], password: &[u8]) -> Result<(), &'static [u8]> {
        let checked = self.ctx.settings().check(user, password);
        if checked.is_err() {
            self.auth_failures.inc();
        }
        checked
    }

    /// Before a command that may grow memory: makes room under `maxmemory` (see
    /// [`Keyspace::make_room`]), counting evictions; false when the command must be refused with `-OOM`
    /// (counted as `reason="oom"`).
    fn make_room(&self, now: Instant) -> bool {
        let room = self.keyspace.make_room(now);
        if room.evicted > 0 {
            self.evicted.add(room.evicted as u64);
        }
        if !room.made {
            self.ctx.error("oom");
        }
        room.made
    }

    /// Counts one command (table row, or [`commands::UNKNOWN`]) and how long it took from parse to reply.
    fn record(&self, command: usize, took: Duration) {
        self.calls[command].inc();
        self.took[command].observe(took);
    }
}

/// Deletes expired keys of this shard's parts every `shards.sweep_interval_ms`, a bounded batch at a time
/// (in the low-share housekeeping queue).
async fn sweep_expired(ctx: Context<Resp>, keyspace: Arc<Keyspace>) {
    const BATCH: usize = 512;
    while !ctx.exiting() {
        let interval = Duration::from_millis(ctx.config().shards.sweep_interval_ms);
        glommio::timer::sleep(interval).await;
        for part in Keyspace::parts_of(ctx.shard_id(), ctx.shards()) {
            loop {
                let removed = keyspace.lock_part(part).sweep(Instant::now(), BATCH);
                if removed < BATCH {
                    break;
                }
                glommio::yield_if_needed().await;
            }
        }
    }
}
