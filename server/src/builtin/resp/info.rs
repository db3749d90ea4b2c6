//! INFO: the server, clients, memory, persistence, stats, replication, cpu, commandstats and keyspace
//! sections, from every shard's snapshot. Stats and commandstats count from the last CONFIG RESETSTAT
//! ([`super::stats`]).

use std::fmt::Write;

use pincore_resp::reply::{self, Protocol};

use super::keyspace::Keyspace;
use super::{
    Resp, COMMANDS_REJECTED, COMMANDS_TOTAL, COMMAND_DURATION, EVICTED_KEYS, KEYS, KEYSPACE_HITS,
    KEYSPACE_MISSES, KEYS_EXPIRING,
};
use crate::framework::{Service, ServiceSnapshot, ShardSnapshot};
use crate::metrics::SeriesValue;

/// The Redis version whose commands and replies this server follows, as HELLO and INFO report it: clients
/// use it to decide which commands and reply shapes to expect.
pub const REDIS_VERSION: &str = "7.0.15";

/// INFO's sections in the order Redis writes them; `default` (or no argument) is every one but
/// commandstats, `all` and `everything` add it.
const SECTIONS: [&str; 9] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "keyspace",
];

/// The sections that only `all`, `everything` or their own name ask for.
const NOT_DEFAULT: [&str; 1] = ["commandstats"];

/// The stats section's counters, by INFO field, summed over every shard: what CONFIG RESETSTAT takes as
/// its new zero.
pub fn stat_totals(keyspace: &Keyspace, snapshots: &[ShardSnapshot]) -> Vec<(String, u64)> {
    let mut totals: Vec<(String, u64)> = stats_section(keyspace, snapshots)
        .into_iter()
        .map(|(field, total)| (field.to_string(), total))
        .collect();
    for (command, figures) in command_totals(snapshots) {
        let [calls, usec, rejected] = figures;
        totals.push((format!("cmdstat_{command}:calls"), calls));
        totals.push((format!("cmdstat_{command}:usec"), usec));
        totals.push((format!("cmdstat_{command}:rejected_calls"), rejected));
    }
    totals
}

/// The stats section's counters, by INFO field, summed over every shard.
fn stats_section(keyspace: &Keyspace, snapshots: &[ShardSnapshot]) -> Vec<(&'static str, u64)> {
    let sum = |name: &str| snapshots.iter().map(|s| s.sum_of(name)).sum::<u64>();
    let resp = |pick| resp_total(snapshots, pick);
    vec![
        ("total_connections_received", resp(|s| s.accepted)),
        ("total_commands_processed", sum(COMMANDS_TOTAL)),
        ("rejected_connections", resp(|s| s.rejected.iter().sum())),
        ("total_net_input_bytes", resp(|s| s.bytes_in)),
        ("total_net_output_bytes", resp(|s| s.bytes_out)),
        ("expired_keys", keyspace.expired()),
        ("evicted_keys", sum(EVICTED_KEYS)),
        ("keyspace_hits", sum(KEYSPACE_HITS)),
        ("keyspace_misses", sum(KEYSPACE_MISSES)),
    ]
}

/// The `command` label of commands not in the table.
pub const UNKNOWN_LABEL: &str = "unknown";

/// Per command (by table name) over every shard: calls, microseconds from parse to reply, and calls
/// refused before running; in table order (each shard registers its series in the table's order), commands
/// never called left out by the caller.
fn command_totals(snapshots: &[ShardSnapshot]) -> Vec<(String, [u64; 3])> {
    let mut totals: Vec<(String, [u64; 3])> = Vec::new();
    for series in snapshots.iter().flat_map(|s| &s.series) {
        let column = match series.name.as_str() {
            COMMANDS_TOTAL => 0,
            COMMAND_DURATION => 1,
            COMMANDS_REJECTED => 2,
            _ => continue,
        };
        let Some((_, label)) = series.labels.iter().find(|(k, _)| k == "command") else {
            continue;
        };
        // Commands not in the table are counted under one label; Redis lists none of them.
        if label == UNKNOWN_LABEL {
            continue;
        }
        let value = match &series.value {
            SeriesValue::Counter(v) | SeriesValue::Gauge(v) => *v,
            SeriesValue::Histogram(h) => h.sum_nanos / 1000,
        };
        match totals.iter_mut().find(|(name, _)| name == label) {
            Some((_, figures)) => figures[column] += value,
            None => {
                let mut figures = [0; 3];
                figures[column] = value;
                totals.push((label.clone(), figures));
            }
        }
    }
    totals
}

/// The RESP service's figure `pick` summed over every shard.
fn resp_total(snapshots: &[ShardSnapshot], pick: fn(&ServiceSnapshot) -> u64) -> u64 {
    snapshots
        .iter()
        .filter_map(|s| s.service(Resp::NAME))
        .map(pick)
        .sum()
}

/// This process's CPU time, user and system, in seconds (`getrusage`).
fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage writes one rusage struct into the zeroed one given; it has no other effect.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

/// INFO's arguments: the sections asked for, lower-cased.
pub fn sections(args: &[&[u8]]) -> Vec<String> {
    args[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect()
}

/// INFO's reply once every shard's snapshot is in.
pub fn reply(
    resp: &Resp,
    requested: &[String],
    snapshots: &[ShardSnapshot],
    protocol: Protocol,
    out: &mut Vec<u8>,
) {
    // RESP3 marks it as plain text, as Redis does; RESP2 sends the same text as a bulk string.
    reply::verbatim(
        out,
        protocol,
        b"txt",
        render(resp, requested, snapshots).as_bytes(),
    );
}

/// Renders the requested sections (all of them for none, `default`, `all` or `everything`).
pub fn render(resp: &Resp, requested: &[String], snapshots: &[ShardSnapshot]) -> String {
    let all = requested
        .iter()
        .any(|s| matches!(s.as_str(), "all" | "everything"));
    let default = requested.is_empty() || requested.iter().any(|s| s == "default");
    let wanted = |name: &str| {
        all || (default && !NOT_DEFAULT.contains(&name)) || requested.iter().any(|s| s == name)
    };
    let ctx = &resp.ctx;
    let config = ctx.config();
    let sum = |name: &str| snapshots.iter().map(|s| s.sum_of(name)).sum::<u64>();
    let mut out = String::new();
    for section in SECTIONS.iter().filter(|s| wanted(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => {
                let _ = write!(
                    out,
                    "# Server\r\nredis_version:{}\r\npincore_version:{}\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nshards:{}\r\n",
                    REDIS_VERSION,
                    env!("CARGO_PKG_VERSION"),
                    std::process::id(),
                    config.services.resp.listen.port(),
                    ctx.started().elapsed().as_secs(),
                    ctx.shards(),
                );
            }
            "clients" => {
                let _ = write!(
                    out,
                    "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\n",
                    resp_total(snapshots, |s| s.open),
                    config.limits.max_connections_per_shard * ctx.shards(),
                    resp.keyspace.waiters.clients(),
                    resp.pubsub.tracking.counts().clients,
                );
            }
            "memory" => {
                // used_memory is what the keys cost (see `keyspace`), the figure maxmemory bounds.
                let used = resp.keyspace.used_memory();
                let (max, policy) = resp.keyspace.limit();
                let _ = write!(
                    out,
                    "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n",
                    human(used),
                    human(max),
                    policy.name(),
                );
            }
            "persistence" => {
                // The snapshot, or the append-only file's base, is loaded before the server listens and
                // its commands replayed before any shard serves, so a client never sees `loading:1`.
                let s = resp.saves.status();
                let a = resp.aof.status();
                let _ = write!(
                    out,
                    "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_saves:{}\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_last_write_status:{}\r\n",
                    s.changes_since_last_save,
                    u8::from(s.in_progress),
                    s.last_save,
                    if s.last_ok { "ok" } else { "err" },
                    s.last_took,
                    s.saves,
                    u8::from(a.enabled),
                    u8::from(a.rewrite_in_progress),
                    u8::from(a.rewrite_scheduled),
                    a.last_rewrite_secs,
                    a.current_rewrite_secs,
                    if a.last_rewrite_ok { "ok" } else { "err" },
                    a.rewrites,
                    if a.last_write_ok { "ok" } else { "err" },
                );
                if a.enabled {
                    let _ = write!(
                        out,
                        "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
                        a.current_size, a.base_size, a.buffer_length,
                    );
                }
            }
            "stats" => {
                out.push_str("# Stats\r\n");
                for (field, total) in stats_section(&resp.keyspace, snapshots) {
                    let _ = write!(out, "{field}:{}\r\n", resp.stats.since_reset(field, total));
                }
                // Gauges, not counters: CONFIG RESETSTAT leaves them.
                let (channels, patterns) = resp.pubsub.counts();
                let tracking = resp.pubsub.tracking.counts();
                let _ = write!(
                    out,
                    "pubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\n",
                    tracking.keys, tracking.items, tracking.prefixes,
                );
            }
            "cpu" => {
                let (user, system) = cpu_seconds();
                let _ = write!(
                    out,
                    "# CPU\r\nused_cpu_sys:{system:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n",
                );
            }
            "replication" => {
                // A master: its replicas and the feed's offset (see `feed`); there is no backlog, so a
                // PSYNC is always answered with a full resynchronization.
                let status = resp.keyspace.feed.status();
                let _ = write!(
                    out,
                    "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\n",
                    status.replicas.len()
                );
                for (i, (addr, port, acked, lag)) in status.replicas.iter().enumerate() {
                    let ip = addr.rsplit_once(':').map_or(addr.as_str(), |(ip, _)| ip);
                    let _ = write!(
                        out,
                        "slave{i}:ip={ip},port={port},state=online,offset={acked},lag={lag}\r\n"
                    );
                }
                if resp.ctx.settings().min_replicas_to_write > 0 {
                    let _ = write!(out, "min_slaves_good_slaves:{}\r\n", status.good);
                }
                let backlog = resp.keyspace.feed.backlog_status();
                let _ = write!(
                    out,
                    "master_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\nslow_replicas_disconnected:{}\r\n",
                    status.replid,
                    status.offset,
                    u8::from(backlog.0),
                    backlog.1,
                    backlog.2,
                    backlog.3,
                    resp.keyspace.feed.slow_disconnected.load(std::sync::atomic::Ordering::Relaxed),
                );
            }
            "commandstats" => {
                // usec is the time from parsing a command to its reply being ready; calls include
                // the refused ones.
                out.push_str("# Commandstats\r\n");
                for (command, [calls, usec, rejected]) in command_totals(snapshots) {
                    let since = |figure: &str, total| {
                        resp.stats
                            .since_reset(&format!("cmdstat_{command}:{figure}"), total)
                    };
                    let (calls, usec) = (since("calls", calls), since("usec", usec));
                    let rejected = since("rejected_calls", rejected);
                    if calls == 0 {
                        continue;
                    }
                    let _ = write!(
                        out,
                        "cmdstat_{command}:calls={calls},usec={usec},usec_per_call={:.2},rejected_calls={rejected}\r\n",
                        usec as f64 / calls as f64,
                    );
                }
            }
            _ => {
                out.push_str("# Keyspace\r\n");
                let keys = sum(KEYS);
                if keys > 0 {
                    let _ = write!(
                        out,
                        "db0:keys={keys},expires={},avg_ttl=0\r\n",
                        sum(KEYS_EXPIRING)
                    );
                }
            }
        }
    }
    out
}

/// Bytes as Redis's `bytesToHuman` writes them: `0B`, `1.50K`, `2.00M`, `1.25G`.
fn human(bytes: usize) -> String {
    const UNITS: [(u32, char); 3] = [(30, 'G'), (20, 'M'), (10, 'K')];
    for (shift, unit) in UNITS {
        if bytes >= 1 << shift {
            return format!("{:.2}{unit}", bytes as f64 / f64::from(1u32 << shift));
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes_read_as_redis_writes_them() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(2 << 20), "2.00M");
        assert_eq!(human(5 << 30), "5.00G");
    }
}
