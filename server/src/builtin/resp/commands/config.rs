//! CONFIG GET, SET, RESETSTAT, REWRITE and HELP: Redis's parameter names over pincore's configuration.
//!
//! Each [`Parameter`] maps one Redis name to where pincore keeps it (the `resp` service's settings, the
//! server's limits or timeouts) or to a fixed fact (no persistence, one database). CONFIG SET changes the
//! live ones through [`crate::framework::Context::reconfigure`], the path of a SIGHUP reload: the whole
//! configuration is checked as a reloaded file is, then applied on every shard; an invalid value changes
//! nothing. Nothing is written back to the file (CONFIG REWRITE says so), and the next SIGHUP re-reads it.

use pincore_resp::reply;

use super::inert::{self, INERT};
use super::{help, printable, subcommand, Call, Flow};
use crate::builtin::resp::auth::RespSettings;
use crate::builtin::resp::eviction::Policy;
use crate::builtin::resp::integer::memory;
use crate::builtin::resp::{glob, info, notify};
use crate::config::Config;

/// Where a parameter lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parameter {
    MaxMemory,
    MaxMemoryPolicy,
    Timeout,
    MaxClients,
    ProtoMaxBulkLen,
    QueryBufferLimit,
    ProtectedMode,
    Save,
    AppendOnly,
    AppendFsync,
    AofPreamble,
    AutoAofPercentage,
    AutoAofMinSize,
    Databases,
    Port,
    Bind,
    EnableDebugCommand,
    NotifyKeyspaceEvents,
    HashEntries,
    HashValue,
    SetInts,
    ZSetEntries,
    ZSetValue,
    ListSize,
    ListDepth,
    TrackingTableMaxKeys,
    ReplPingPeriod,
    MinReplicas,
    MinReplicasLag,
    /// One of Redis's parameters for what pincore-server does not have: an index in [`INERT`].
    Inert(usize),
}

/// Redis's names, in the order CONFIG GET lists matches; the `ziplist` names Redis 7.0 still accepts come
/// after the names they stand for, so a pattern lists each parameter once.
const PARAMETERS: [(&str, Parameter); 37] = [
    ("maxmemory", Parameter::MaxMemory),
    ("maxmemory-policy", Parameter::MaxMemoryPolicy),
    ("timeout", Parameter::Timeout),
    ("maxclients", Parameter::MaxClients),
    ("proto-max-bulk-len", Parameter::ProtoMaxBulkLen),
    ("client-query-buffer-limit", Parameter::QueryBufferLimit),
    ("protected-mode", Parameter::ProtectedMode),
    ("save", Parameter::Save),
    ("appendonly", Parameter::AppendOnly),
    ("appendfsync", Parameter::AppendFsync),
    ("aof-use-rdb-preamble", Parameter::AofPreamble),
    ("auto-aof-rewrite-percentage", Parameter::AutoAofPercentage),
    ("auto-aof-rewrite-min-size", Parameter::AutoAofMinSize),
    ("databases", Parameter::Databases),
    ("port", Parameter::Port),
    ("bind", Parameter::Bind),
    ("enable-debug-command", Parameter::EnableDebugCommand),
    ("notify-keyspace-events", Parameter::NotifyKeyspaceEvents),
    ("hash-max-listpack-entries", Parameter::HashEntries),
    ("hash-max-listpack-value", Parameter::HashValue),
    ("set-max-intset-entries", Parameter::SetInts),
    ("zset-max-listpack-entries", Parameter::ZSetEntries),
    ("zset-max-listpack-value", Parameter::ZSetValue),
    ("list-max-listpack-size", Parameter::ListSize),
    ("list-compress-depth", Parameter::ListDepth),
    ("repl-ping-replica-period", Parameter::ReplPingPeriod),
    ("min-replicas-to-write", Parameter::MinReplicas),
    ("min-replicas-max-lag", Parameter::MinReplicasLag),
    ("hash-max-ziplist-entries", Parameter::HashEntries),
    ("hash-max-ziplist-value", Parameter::HashValue),
    ("zset-max-ziplist-entries", Parameter::ZSetEntries),
    ("zset-max-ziplist-value", Parameter::ZSetValue),
    ("list-max-ziplist-size", Parameter::ListSize),
    ("tracking-table-max-keys", Parameter::TrackingTableMaxKeys),
    ("repl-ping-slave-period", Parameter::ReplPingPeriod),
    ("min-slaves-to-write", Parameter::MinReplicas),
    ("min-slaves-max-lag", Parameter::MinReplicasLag),
];

fn lookup(name: &[u8]) -> Option<Parameter> {
    let own = PARAMETERS
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|(_, p)| *p);
    own.or_else(|| {
        INERT
            .iter()
            .position(|p| p.name.as_bytes().eq_ignore_ascii_case(name))
            .map(Parameter::Inert)
    })
}

/// Every parameter a pattern can find: pincore's own, then the inert ones that are not hidden.
fn listed() -> impl Iterator<Item = (&'static str, Parameter)> {
    let inert = INERT
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.hidden)
        .map(|(i, p)| (p.name, Parameter::Inert(i)));
    PARAMETERS.into_iter().chain(inert)
}

/// A parameter's value now, as Redis writes it.
fn value(p: Parameter, config: &Config, settings: &RespSettings, shards: usize) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    match p {
        Parameter::MaxMemory => settings.max_memory_bytes.to_string(),
        Parameter::MaxMemoryPolicy => settings.eviction_policy.name().to_string(),
        Parameter::Timeout => (config.timeouts.idle_ms / 1000).to_string(),
        Parameter::MaxClients => (config.limits.max_connections_per_shard * shards).to_string(),
        Parameter::ProtoMaxBulkLen => config.limits.max_bulk_len.to_string(),
        Parameter::QueryBufferLimit => config.limits.max_request_bytes.to_string(),
        Parameter::ProtectedMode => yes_no(settings.protected_mode),
        // Redis's `save <seconds> <changes>`: the interval saves when at least that many keys changed.
        Parameter::Save => settings
            .persistence
            .interval()
            .map_or_else(String::new, |i| {
                format!("{} {}", i.as_secs(), settings.persistence.min_changes())
            }),
        Parameter::AppendOnly => yes_no(settings.persistence.appendonly),
        Parameter::AppendFsync => settings.persistence.appendfsync.name().to_string(),
        Parameter::AofPreamble => yes_no(settings.persistence.aof_use_rdb_preamble),
        Parameter::AutoAofPercentage => {
            settings.persistence.auto_aof_rewrite_percentage.to_string()
        }
        Parameter::AutoAofMinSize => settings.persistence.auto_aof_rewrite_min_size.to_string(),
        Parameter::Databases => "1".to_string(),
        Parameter::Port => config.services.resp.listen.port().to_string(),
        Parameter::Bind => config.services.resp.listen.ip().to_string(),
        Parameter::EnableDebugCommand => yes_no(settings.enable_debug_command),
        Parameter::NotifyKeyspaceEvents => {
            notify::render(notify::parse(&settings.notify_keyspace_events).unwrap_or(0))
        }
        Parameter::HashEntries => settings.encodings.hash_max_listpack_entries.to_string(),
        Parameter::HashValue => settings.encodings.hash_max_listpack_value.to_string(),
        Parameter::SetInts => settings.encodings.set_max_intset_entries.to_string(),
        Parameter::ZSetEntries => settings.encodings.zset_max_listpack_entries.to_string(),
        Parameter::ZSetValue => settings.encodings.zset_max_listpack_value.to_string(),
        Parameter::ListSize => settings.encodings.list_max_listpack_size.to_string(),
        Parameter::ListDepth => settings.encodings.list_compress_depth.to_string(),
        Parameter::TrackingTableMaxKeys => settings.tracking_table_max_keys.to_string(),
        Parameter::ReplPingPeriod => settings.repl_ping_replica_period_s.to_string(),
        Parameter::MinReplicas => settings.min_replicas_to_write.to_string(),
        Parameter::MinReplicasLag => settings.min_replicas_max_lag_s.to_string(),
        Parameter::Inert(i) => INERT[i].value(),
    }
}

fn yes_or_no(text: &[u8]) -> Result<bool, String> {
    match &*String::from_utf8_lossy(text).to_ascii_lowercase() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn integer(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A count for an `*-entries` bound: Redis's range is 0 to `LONG_MAX`.
fn count(text: &[u8]) -> Result<usize, String> {
    let n = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or("argument couldn't be parsed into an integer")?;
    usize::try_from(n)
        .map_err(|_| "argument must be between 0 and 9223372036854775807 inclusive".into())
}

/// Sets `p` to `text` in the copies being changed, or says why the value is not one.
fn set(
    p: Parameter,
    text: &[u8],
    config: &mut Config,
    settings: &mut RespSettings,
    shards: usize,
) -> Result<(), String> {
    const NOT_INTEGER: &str = "argument couldn't be parsed into an integer";
    const NOT_MEMORY: &str = "argument must be a memory value";
    match p {
        Parameter::MaxMemory => settings.max_memory_bytes = memory(text).ok_or(NOT_MEMORY)?,
        Parameter::MaxMemoryPolicy => {
            let name = String::from_utf8_lossy(text).to_ascii_lowercase();
            settings.eviction_policy = Policy::try_from(name).map_err(|_| {
                let names: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            })?;
        }
        Parameter::Timeout => {
            let seconds = integer(text).ok_or(NOT_INTEGER)?;
            if seconds == 0 {
                return Err("pincore-server always closes idle connections (timeouts.idle_ms); give a number of seconds above 0".into());
            }
            config.timeouts.idle_ms = seconds.saturating_mul(1000);
        }
        Parameter::MaxClients => {
            let total = integer(text).ok_or(NOT_INTEGER)? as usize;
            // The bound is per shard: the total is shared out, rounding up.
            config.limits.max_connections_per_shard = total.div_ceil(shards.max(1));
        }
        Parameter::ProtoMaxBulkLen => {
            config.limits.max_bulk_len = memory(text).ok_or(NOT_MEMORY)?
        }
        Parameter::QueryBufferLimit => {
            config.limits.max_request_bytes = memory(text).ok_or(NOT_MEMORY)?
        }
        Parameter::ProtectedMode => settings.protected_mode = yes_or_no(text)?,
        Parameter::NotifyKeyspaceEvents => {
            let text = String::from_utf8_lossy(text);
            notify::parse(&text).ok_or(notify::INVALID)?;
            settings.notify_keyspace_events = text.into_owned();
        }
        Parameter::Save => {
            let text = String::from_utf8_lossy(text);
            let persistence = &mut settings.persistence;
            match text.split_whitespace().collect::<Vec<_>>().as_slice() {
                [] => {
                    persistence.interval = None;
                    persistence.min_changes = None;
                }
                [seconds, changes] => {
                    let (Ok(seconds), Ok(changes)) = (seconds.parse::<u64>(), changes.parse::<u64>()) else {
                        return Err("Invalid save parameters".into());
                    };
                    persistence.interval = Some(format!("{seconds}s"));
                    persistence.min_changes = Some(changes);
                }
                _ => return Err("pincore-server keeps one save rule: give \"<seconds> <changes>\", or \"\" for none".into()),
            }
        }
        Parameter::AppendOnly => {
            let on = yes_or_no(text)?;
            if on && settings.persistence.dir.is_none() {
                return Err("the append-only file needs services.resp.settings.persistence.dir, the directory it is written in (set in the configuration file)".into());
            }
            settings.persistence.appendonly = on;
        }
        Parameter::AppendFsync => {
            settings.persistence.appendfsync = crate::builtin::resp::aof_writer::Fsync::parse(text)
                .ok_or("argument(s) must be one of the following: always, everysec, no")?;
        }
        Parameter::AofPreamble => settings.persistence.aof_use_rdb_preamble = yes_or_no(text)?,
        Parameter::AutoAofPercentage => {
            settings.persistence.auto_aof_rewrite_percentage = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or(NOT_INTEGER)?
                .try_into()
                .map_err(|_| "argument must be between 0 and 2147483647 inclusive")?;
        }
        Parameter::AutoAofMinSize => {
            settings.persistence.auto_aof_rewrite_min_size = memory(text).ok_or(NOT_MEMORY)? as u64
        }
        Parameter::ReplPingPeriod => {
            settings.repl_ping_replica_period_s = match integer(text) {
                Some(seconds) if seconds > 0 => seconds,
                _ => return Err("argument must be between 1 and 2147483647 inclusive".into()),
            };
        }
        Parameter::MinReplicas => {
            settings.min_replicas_to_write = match integer(text) {
                Some(replicas) if replicas <= i32::MAX as u64 => replicas as usize,
                _ => return Err("argument must be between 0 and 2147483647 inclusive".into()),
            };
        }
        Parameter::MinReplicasLag => {
            settings.min_replicas_max_lag_s = match integer(text) {
                Some(seconds) if seconds <= i32::MAX as u64 => seconds,
                _ => return Err("argument must be between 0 and 2147483647 inclusive".into()),
            };
        }
        Parameter::HashEntries => {
            settings.encodings.hash_max_listpack_entries = count(text)?;
        }
        Parameter::HashValue => {
            settings.encodings.hash_max_listpack_value = memory(text).ok_or(NOT_MEMORY)?;
        }
        Parameter::SetInts => settings.encodings.set_max_intset_entries = count(text)?,
        Parameter::ZSetEntries => settings.encodings.zset_max_listpack_entries = count(text)?,
        Parameter::ZSetValue => {
            settings.encodings.zset_max_listpack_value = memory(text).ok_or(NOT_MEMORY)?;
        }
        Parameter::ListSize => {
            settings.encodings.list_max_listpack_size = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<i32>().ok())
                .ok_or(NOT_INTEGER)?
                .into();
        }
        Parameter::ListDepth => {
            settings.encodings.list_compress_depth = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<i32>().ok())
                .ok_or(NOT_INTEGER)?
                .try_into()
                .map_err(|_| "argument must be between 0 and 2147483647 inclusive")?;
        }
        Parameter::TrackingTableMaxKeys => settings.tracking_table_max_keys = count(text)?,
        Parameter::Port | Parameter::Bind => {
            // The listener changes only with a restart; its own value is accepted, as Redis accepts it.
            if text != value(p, config, settings, shards).as_bytes() {
                return Err("the listener changes only with a restart: change services.resp.listen in the configuration file and restart".into());
            }
        }
        Parameter::Databases | Parameter::EnableDebugCommand => {
            return Err("can't set immutable config".into())
        }
        Parameter::Inert(i) => {
            INERT[i].check(text)?;
        }
    }
    Ok(())
}

const CONFIG_HELP: [&str; 8] = [
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>, as a SIGHUP reload of the file would.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Not supported: change the configuration file, then send SIGHUP.",
];

/// CONFIG GET pattern..., SET (parameter value)..., RESETSTAT, REWRITE, HELP.
pub fn config(c: &mut Call<'_>) -> Flow {
    let table = [
        ("help", 2),
        ("get", -3),
        ("set", -4),
        ("resetstat", 2),
        ("rewrite", 2),
    ];
    let Some(sub) = subcommand(c, "config", &table) else {
        return Flow::Reply;
    };
    match sub {
        "help" => help(c.out, "CONFIG", &CONFIG_HELP),
        "get" => get(c),
        "set" => return set_all(c),
        "resetstat" => {
            let (ctx, keyspace, stats) = (c.resp.ctx.clone(), c.resp.keyspace.clone(), c.resp.stats.clone());
            c.later = Some(Box::pin(async move {
                let mut out = Vec::new();
                match ctx.snapshots().await {
                    Ok(snapshots) => {
                        stats.reset(&info::stat_totals(&keyspace, &snapshots));
                        reply::simple(&mut out, b"OK");
                    }
                    Err(e) => reply::error(&mut out, format!("ERR {e}").as_bytes()),
                }
                out
            }));
        }
        _ => reply::error(
            c.out,
            b"ERR pincore-server does not support CONFIG REWRITE: it never writes its configuration file; change the file and send SIGHUP",
        ),
    }
    Flow::Reply
}

fn get(c: &mut Call<'_>) {
    let config = c.resp.ctx.config();
    let settings = c.resp.ctx.settings();
    let shards = c.resp.ctx.shards();
    let mut found: Vec<(Vec<u8>, Parameter)> = Vec::new();
    for pattern in &c.args[2..] {
        if !pattern.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
            // An exact name answers under the name as given, as Redis does.
            if let Some(p) = lookup(pattern) {
                if !found.iter().any(|(_, q)| *q == p) {
                    found.push((pattern.to_vec(), p));
                }
            }
            continue;
        }
        for (name, p) in listed() {
            if glob::matches(pattern, name.as_bytes(), true) && !found.iter().any(|(_, q)| *q == p)
            {
                found.push((name.as_bytes().to_vec(), p));
            }
        }
    }
    reply::map(c.out, c.session.protocol, found.len());
    for (name, p) in found {
        reply::bulk(c.out, &name);
        reply::bulk(c.out, value(p, &config, &settings, shards).as_bytes());
    }
}

/// CONFIG SET: every pair is judged before anything changes (unknown names first, then immutable or
/// repeated ones, then the values, as Redis orders its errors); then the whole change goes through the
/// reload path at once.
fn set_all(c: &mut Call<'_>) -> Flow {
    let args = c.args;
    if args.len() % 2 == 1 {
        reply::error(c.out, b"ERR syntax error");
        return Flow::Reply;
    }
    let pairs: Vec<(&[u8], &[u8])> = args[2..].chunks(2).map(|p| (p[0], p[1])).collect();
    if let Some((name, _)) = pairs.iter().find(|(name, _)| lookup(name).is_none()) {
        let text = format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
            printable(name)
        );
        reply::error(c.out, text.as_bytes());
        return Flow::Reply;
    }
    let failed = |out: &mut Vec<u8>, name: &[u8], why: &str| {
        let text = format!(
            "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
            printable(name)
        );
        reply::error(out, text.as_bytes());
        Flow::Reply
    };
    let mut changes: Vec<(Parameter, Vec<u8>)> = Vec::new();
    for (name, text) in &pairs {
        let p = lookup(name).unwrap_or(Parameter::Databases);
        let immutable = match p {
            Parameter::Databases | Parameter::EnableDebugCommand => true,
            Parameter::Inert(i) => matches!(INERT[i].kind, inert::Kind::Immutable(_)),
            _ => false,
        };
        if immutable {
            return failed(c.out, name, "can't set immutable config");
        }
        if changes.iter().any(|(q, _)| *q == p) {
            return failed(c.out, name, "duplicate parameter");
        }
        changes.push((p, text.to_vec()));
    }
    // The values are judged on copies now, so a bad one is answered before anything is applied.
    let shards = c.resp.ctx.shards();
    let (mut config, mut settings) = (
        (*c.resp.ctx.config()).clone(),
        (*c.resp.ctx.settings()).clone(),
    );
    for ((p, text), (name, _)) in changes.iter().zip(&pairs) {
        if let Err(why) = set(*p, text, &mut config, &mut settings, shards) {
            return failed(c.out, name, &why);
        }
    }
    let ctx = c.resp.ctx.clone();
    let first = pairs[0].0.to_vec();
    let (keyspace, evicted) = (c.resp.keyspace.clone(), c.resp.evicted.clone());
    let limits_memory = changes.iter().any(|(p, _)| *p == Parameter::MaxMemory);
    c.later = Some(Box::pin(async move {
        let applied = ctx
            .reconfigure(|config, settings| {
                for (p, text) in &changes {
                    // Judged above on the same running values.
                    let _ = set(*p, text, config, settings, shards);
                }
            })
            .await;
        let mut out = Vec::new();
        match applied {
            Ok(()) => {
                for (p, text) in &changes {
                    if let Parameter::Inert(i) = p {
                        // Checked above; only kept parameters give a value to remember.
                        if let Ok(Some(value)) = INERT[*i].check(text) {
                            // The backlog is real (see `feed.rs`); the value is kept for CONFIG GET too.
                            if INERT[*i].name == "repl-backlog-size" {
                                if let Ok(bytes) = value.parse::<usize>() {
                                    keyspace.feed.set_backlog_size(bytes);
                                }
                            }
                            INERT[*i].keep(value);
                        }
                    }
                }
                if limits_memory {
                    // A lower bound evicts at once, as Redis's does, not at the next write (bounded as a
                    // write's evictions are).
                    let room = keyspace.make_room(std::time::Instant::now());
                    evicted.add(room.evicted as u64);
                }
                reply::simple(&mut out, b"OK")
            }
            Err(why) => {
                failed(&mut out, &first, &why);
            }
        }
        out
    }));
    Flow::Reply
}
