//! The `resp` service: a Redis-protocol key-value store on a keyspace shared by every shard.
//!
//! `session.rs` is the connection (read buffer, pipelining, deadlines), `dispatch.rs` runs a command from
//! the table in `commands/` (one file per family), `info.rs` renders INFO, `kv.rs` is what the single-key
//! commands mean on a [`store::Store`], `keyspace.rs` the parts every shard locks, and `pubsub.rs` the
//! subscriptions every shard shares, with a mailbox per subscribed connection (`monitor.rs` feeds MONITOR
//! connections through such mailboxes). `transaction.rs` is MULTI's
//! queue and `watch.rs` WATCH's registrations. It is written against
//! the public framework API only.

pub mod acl;
pub mod aof;
pub mod aof_writer;
pub mod auth;
pub mod blocking;
pub mod clients;
pub mod commands;
mod decimal;
mod digest;
pub mod dispatch;
pub mod dump;
pub mod eviction;
pub mod expiry;
pub mod feed;
pub mod glob;
pub mod heap;
mod info;
pub mod integer;
pub mod keyspace;
pub mod kv;
pub mod lcs;
pub mod mailbox;
pub mod migrate;
pub mod monitor;
pub mod notify;
pub mod persistence;
pub mod propagate;
pub mod pubsub;
pub mod random;
pub mod rdb;
mod replication;
pub mod scan;
mod session;
pub mod snapshot;
pub mod stats;
pub mod store;
mod thin;
pub mod tracking;
mod transaction;
pub mod types;
pub mod waiters;
pub mod watch;
pub mod watchers;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyspace::Keyspace;
use pubsub::PubSub;

use crate::framework::{Connection, Context, Counter, Histogram, Service};

/// Series the INFO command reads back from every shard's snapshot.
const COMMANDS_TOTAL: &str = "pincore_commands_total";
const COMMANDS_REJECTED: &str = "pincore_commands_rejected_total";
const COMMAND_DURATION: &str = "pincore_command_duration_seconds";
const KEYS: &str = "pincore_keys";
const KEYS_EXPIRING: &str = "pincore_keys_expiring";
const EVICTED_KEYS: &str = "pincore_evicted_keys_total";
const KEYSPACE_HITS: &str = "pincore_keyspace_hits_total";
const KEYSPACE_MISSES: &str = "pincore_keyspace_misses_total";

/// What every shard's instance of the service shares: the keyspace, the subscriptions, INFO's baseline and
/// the state of saves. Made once per process; cloning shares it.
#[derive(Clone)]
pub struct Shared {
    pub keyspace: Arc<Keyspace>,
    /// Channel and pattern subscriptions.
    pub pubsub: Arc<PubSub>,
    /// INFO's zero, set by CONFIG RESETSTAT.
    pub stats: Arc<stats::Baseline>,
    /// Whether a snapshot is being saved, the last one's outcome, writes since.
    pub saves: Arc<persistence::Saves>,
    /// Users and their rights: the configured ones and ACL SETUSER's.
    pub acl: Arc<acl::Acl>,
    /// The append-only file of the keyspace.
    pub aof: Arc<aof::Aof>,
}

impl Default for Shared {
    /// The keyspace publishes its own keyspace notifications (expired, evicted and new keys) through the
    /// subscriptions the commands use.
    fn default() -> Shared {
        let pubsub = Arc::new(PubSub::default());
        let keyspace = Arc::new(Keyspace::with_pubsub(pubsub.clone()));
        Shared {
            aof: Arc::new(aof::Aof::new(keyspace.clone())),
            keyspace,
            pubsub,
            stats: Default::default(),
            saves: Default::default(),
            acl: Default::default(),
        }
    }
}

/// One shard's instance of the key-value service.
pub struct Resp {
    ctx: Context<Resp>,
    keyspace: Arc<Keyspace>,
    /// Channel and pattern subscriptions, shared by every shard.
    pubsub: Arc<PubSub>,
    /// INFO's zero, set by CONFIG RESETSTAT (shared by every shard).
    stats: Arc<stats::Baseline>,
    /// Saves of snapshots (shared by every shard).
    saves: Arc<persistence::Saves>,
    /// Reads of a key that found it, and that did not (INFO's keyspace_hits and keyspace_misses).
    hits: Counter,
    misses: Counter,
    /// Per table row (and one for unknown commands): calls and their latency.
    calls: Vec<Counter>,
    took: Vec<Histogram>,
    /// Per table row: calls refused before running (INFO commandstats' rejected_calls).
    rejected: Vec<Counter>,
    auth_failures: Counter,
    /// Keys this shard's commands evicted to stay under `maxmemory`.
    evicted: Counter,
    transactions: transaction::Outcomes,
    /// This shard's connections, for CLIENT LIST and CLIENT KILL.
    clients: clients::Clients,
    /// Bytes this shard's connections hold in read buffers beyond their first 16 KiB each
    /// (`limits.max_read_buffer_bytes_per_shard`).
    read_buffers: std::cell::Cell<usize>,
    /// Users and their rights, shared by every shard (see [`acl`]).
    acl: Arc<acl::Acl>,
    /// The append-only file, shared by every shard (see [`aof`]).
    aof: Arc<aof::Aof>,
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
        self.pubsub.set_limit(settings.pubsub_max_pending_bytes);
        self.pubsub
            .set_events(notify::parse(&settings.notify_keyspace_events).unwrap_or(0));
        types::encodings::apply(&settings.encodings);
        self.acl.configure(&settings.users);
        self.pubsub.tracking.set_max_keys(
            settings.tracking_table_max_keys,
            settings.pubsub_max_pending_bytes,
        );
        self.keyspace
            .feed
            .set_ping_period(settings.repl_ping_replica_period_s);
        self.keyspace.feed.set_min_replicas(
            settings.min_replicas_to_write,
            settings.min_replicas_max_lag_s,
        );
        self.keyspace
            .feed
            .set_limit(settings.replica_max_pending_bytes);
        self.aof.configure(settings.persistence.aof());
    }

    /// The keyspace passes to a successor as a snapshot (the format of SAVE) in the handoff's state
    /// directory. Every shard has drained by now, so nothing changes it any more; the shards share one
    /// keyspace, so shard 0 writes it alone.
    async fn hand_over(&self, dir: &Path) -> Result<(), String> {
        if self.ctx.shard_id() != 0 {
            return Ok(());
        }
        // The append-only file is flushed and closed: the successor appends to it from where it stops.
        let aof = self.aof.clone();
        self.ctx.spawn_blocking(move || aof.shutdown()).await;
        let (keyspace, path) = (self.keyspace.clone(), dir.join(HANDOFF_SNAPSHOT));
        let saved = self
            .ctx
            .spawn_blocking(move || snapshot::save_snapshot(&keyspace, &path))
            .await
            .map_err(|e| e.to_string())?;
        self.saves.handed_over();
        tracing::info!(
            keys = saved.keys,
            bytes = saved.bytes,
            "keyspace handed to the successor"
        );
        Ok(())
    }

    /// Loads what the predecessor handed over (shard 0, before any shard accepts). Without it the keyspace
    /// starts as a plain start would: from `persistence.dir`'s snapshot, if there is one.
    async fn take_over(&self, dir: &Path) -> Result<(), String> {
        if self.ctx.shard_id() != 0 {
            return Ok(());
        }
        let handed = dir.join(HANDOFF_SNAPSHOT);
        let path = if handed.exists() {
            handed
        } else {
            match self
                .ctx
                .settings()
                .persistence
                .path()
                .filter(|p| p.exists())
            {
                Some(path) => path,
                None => {
                    self.aof.taken_over();
                    return Ok(());
                }
            }
        };
        let keyspace = self.keyspace.clone();
        let loaded = self
            .ctx
            .spawn_blocking(move || {
                keyspace.flush();
                snapshot::load_snapshot(&keyspace, &path).map(|loaded| (loaded, path))
            })
            .await
            .map_err(|e| e.to_string())?;
        let (loaded, path) = loaded;
        self.saves.loaded(loaded.saved_at_ms);
        tracing::info!(keys = loaded.keys, expired = loaded.expired, path = %path.display(), "keyspace taken over");
        self.aof.taken_over();
        Ok(())
    }
}

/// The file a server hands its keyspace to its successor in, inside the handoff's state directory.
const HANDOFF_SNAPSHOT: &str = "keyspace.snapshot";

impl Resp {
    /// The instance of shard `ctx` on what the shards share: registers its metrics and starts its share of
    /// the expiry sweep, and on shard 0 the periodic snapshot.
    pub fn new(ctx: &Context<Resp>, shared: &Shared) -> Resp {
        let Shared {
            keyspace,
            pubsub,
            stats,
            saves,
            acl,
            aof,
        } = shared.clone();
        acl.configure(&ctx.settings().users);
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
        // Which family each command belongs to (Redis's COMMAND DOCS group), once (on shard 0), so dashboards
        // and pincore-top can add up rates by family: `pincore_commands_total * on(command)
        // group_left(group) pincore_command_group_info`.
        if ctx.shard_id() == 0 {
            for spec in commands::COMMANDS.iter() {
                ctx.gauge(
                    "pincore_command_group_info",
                    "1 for each RESP command, labelled with its family (Redis's COMMAND DOCS group).",
                    &[("command", spec.name), ("group", spec.group)],
                    || 1,
                );
            }
        }
        let took = labels
            .iter()
            .map(|c| {
                ctx.histogram(
                    COMMAND_DURATION,
                    "Time from parsing a command to its reply being ready, all shards.",
                    &[("command", c)],
                )
            })
            .collect();
        let rejected = labels
            .iter()
            .map(|c| {
                ctx.counter(
                    COMMANDS_REJECTED,
                    "RESP commands refused before running (arity, authentication, subscribed context, out of memory, not allowed in MULTI), by command.",
                    &[("command", c)],
                )
            })
            .collect();
        let (shard, shards) = (ctx.shard_id(), ctx.shards());
        type Pick = fn((usize, usize, usize, usize)) -> usize;
        let gauges: [(&str, &str, Pick); 4] = [
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
            (
                "pincore_watched_keys",
                "Keys some connection WATCHes, by the shard that sweeps their keyspace parts.",
                |c| c.3,
            ),
        ];
        for (name, help, pick) in gauges {
            let counted = keyspace.clone();
            ctx.gauge(name, help, &[], move || {
                pick(counted.counts_of(shard, shards)) as u64
            });
        }
        ctx.spawn_housekeeping(sweep_expired(ctx.clone(), keyspace.clone()));
        if ctx.shard_id() == 0 {
            ctx.spawn_housekeeping(persistence::save_periodically(
                ctx.clone(),
                keyspace.clone(),
                saves.clone(),
            ));
        }
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
        let hits = ctx.counter(
            KEYSPACE_HITS,
            "Reads (GET, MGET) that found their key.",
            &[],
        );
        let misses = ctx.counter(
            KEYSPACE_MISSES,
            "Reads (GET, MGET) that did not find their key.",
            &[],
        );
        let settings = ctx.settings();
        keyspace.set_limit(settings.max_memory_bytes, settings.eviction_policy);
        pubsub.set_limit(settings.pubsub_max_pending_bytes);
        pubsub.set_events(notify::parse(&settings.notify_keyspace_events).unwrap_or(0));
        types::encodings::apply(&settings.encodings);
        let resp = Resp {
            ctx: ctx.clone(),
            keyspace,
            pubsub,
            stats,
            saves,
            hits,
            misses,
            calls,
            took,
            rejected,
            auth_failures,
            evicted,
            transactions: transaction::Outcomes::register(ctx),
            read_buffers: std::cell::Cell::new(0),
            clients: clients::Clients::default(),
            acl,
            aof,
        };
        // Shard 0 replays the append-only file the start left to it; the others wait for that.
        resp.aof.replay_at_start(&resp, ctx.shard_id());
        resp.aof.configure(settings.persistence.aof());
        resp
    }

    /// Whether clients must authenticate before running commands: unless `default` is on and needs no
    /// password (see [`acl`]; SIGHUP and ACL SETUSER default can change it).
    fn needs_auth(&self) -> bool {
        !self.acl.default_is_open()
    }

    /// Whether `user` names a user, configured or made at run time.
    fn user_exists(&self, user: &[u8]) -> bool {
        self.acl.user(user).is_some()
    }

    /// Checks a username and password (see [`acl`]); a failure is counted.
    fn authenticate(&self, user: &[u8], password: &[u8]) -> Result<(), &'static [u8]> {
        if self.acl.authenticate(user, password) {
            return Ok(());
        }
        self.auth_failures.inc();
        Err(auth::WRONGPASS)
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

    /// Counts one call of table row `command` without timing it (a command run by EXEC).
    fn count(&self, command: usize) {
        self.calls[command].inc();
    }

    /// Counts one call of table row `command` refused before it ran.
    fn count_rejected(&self, command: usize) {
        if let Some(counter) = self.rejected.get(command) {
            counter.inc();
        }
    }

    /// Counts a read of a key: found or not.
    fn count_read(&self, found: bool) {
        if found {
            self.hits.inc();
        } else {
            self.misses.inc();
        }
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
        if !keyspace.active_expire() {
            continue;
        }
        for part in Keyspace::parts_of(ctx.shard_id(), ctx.shards()) {
            loop {
                let removed = keyspace.lock_part(part).sweep(Instant::now(), BATCH);
                if removed > 0 {
                    keyspace.broadcast_invalidations();
                }
                if removed < BATCH {
                    break;
                }
                glommio::yield_if_needed().await;
            }
        }
    }
}
