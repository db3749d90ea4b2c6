//! DEBUG, allowed only with `services.resp.settings.enable_debug_command: true` (off by default, as Redis's
//! `enable-debug-command no`): SET-ACTIVE-EXPIRE turns the background expiry sweep off and on (keys then
//! expire only when a command touches them), SLEEP delays this connection's reply without holding its
//! shard, PROTOCOL answers a sample of one reply type (for testing clients), OBJECT describes a key in
//! Redis's shape, DIGEST and DIGEST-VALUE fingerprint the dataset or values (see `digest`),
//! QUICKLIST-PACKED-THRESHOLD is accepted (a list element is always its own block here), RELOAD saves a
//! snapshot, empties the keyspace and loads the snapshot back (with persistence on), LOADAOF empties it and
//! loads the append-only file (`aof.rs`) as a start would, HELP lists them. Redis's
//! other subcommands inspect or rewrite its internals (replication, allocator) and answer that pincore-server
//! does not support them.

use std::time::Duration;

use pincore_resp::reply::{self, Protocol};

use super::persistence::claim;
use super::{help, printable, Call, Flow};
use crate::builtin::resp::aof;
use crate::builtin::resp::digest::{self, Digest};
use crate::builtin::resp::integer::memory;
use crate::builtin::resp::keyspace::Parts;
use crate::builtin::resp::snapshot::load_snapshot;
use crate::builtin::resp::store::{Object, ValueRef};
use crate::builtin::resp::types::Collection;

/// What DEBUG answers while `enable_debug_command` is off: Redis's words, with pincore's setting.
pub const NOT_ALLOWED: &[u8] = b"ERR DEBUG command not allowed. Set services.resp.settings.enable_debug_command: true in the configuration file to allow it.";

const DEBUG_HELP: [&str; 18] = [
    "DIGEST",
    "    Output a hex signature representing the current dataset.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "LOADAOF",
    "    Empty the keyspace and load the append-only file back (persistence.dir must be set).",
    "OBJECT <key>",
    "    Show low level info about the key and associated value.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Accepted for compatibility: every list element is its own block here.",
    "PROTOCOL <type>",
    "    Reply with a sample of a RESP type: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false.",
    "RELOAD",
    "    Save a snapshot, empty the keyspace and load the snapshot back (persistence.dir must be set).",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Turn the background sweep of expired keys off (0) or on (1).",
    "SLEEP <seconds>",
    "    Delay this connection's reply by <seconds> (a decimal); other connections go on.",
];

/// The subcommands of Redis's DEBUG that pincore-server leaves out.
const UNSUPPORTED: [&str; 15] = [
    "assert",
    "change-repl-id",
    "error",
    "htstats",
    "htstats-key",
    "jmap",
    "listpack",
    "log",
    "mallctl",
    "mallctl-str",
    "populate",
    "restart",
    "sdslen",
    "segfault",
    "stringmatch-len",
];

pub fn debug(c: &mut Call<'_>) -> Flow {
    if !c.resp.ctx.settings().enable_debug_command {
        reply::error(c.out, NOT_ALLOWED);
        return Flow::Reply;
    }
    let given = String::from_utf8_lossy(c.args[1]).to_ascii_lowercase();
    if UNSUPPORTED.contains(&given.as_str()) {
        let text = format!(
            "ERR pincore-server does not support DEBUG {}",
            given.to_ascii_uppercase()
        );
        reply::error(c.out, text.as_bytes());
        return Flow::Reply;
    }
    let table = [
        ("help", 2),
        ("set-active-expire", 3),
        ("sleep", 3),
        ("protocol", 3),
        ("reload", 2),
        ("loadaof", 2),
        ("object", 3),
        ("digest", 2),
        ("digest-value", -2),
        ("quicklist-packed-threshold", 3),
    ];
    let Some(&(sub, _)) = table.iter().find(|(name, arity)| {
        given == *name
            && (c.args.len() as i64 == *arity || (*arity < 0 && c.args.len() as i64 >= -arity))
    }) else {
        let text = format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            printable(c.args[1])
        );
        reply::error(c.out, text.as_bytes());
        return Flow::Reply;
    };
    match sub {
        "help" => help(c.out, "DEBUG", &DEBUG_HELP),
        "set-active-expire" => {
            match std::str::from_utf8(c.args[2])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
            {
                Some(on) => {
                    c.resp.keyspace.set_active_expire(on != 0);
                    reply::simple(c.out, b"OK");
                }
                None => reply::error(c.out, b"ERR value is not an integer or out of range"),
            }
        }
        "protocol" => sample(c),
        "reload" => reload(c),
        "loadaof" => loadaof(c),
        "object" | "digest" | "digest-value" if matches!(c.parts, Parts::Held { .. }) => {
            // EXEC holds only the parts its commands named; this would need others.
            let text = format!(
                "ERR DEBUG {} is not supported inside MULTI",
                given.to_ascii_uppercase()
            );
            reply::error(c.out, text.as_bytes());
        }
        "object" => object(c),
        "digest" => {
            let mut all = Digest::default();
            let now = c.now;
            // Deadlines as the Unix milliseconds a client sees (PEXPIRETIME), not the monotonic clock's
            // nanoseconds: a dataset saved and loaded back (or replayed from the append-only file) digests
            // the same.
            let clock = crate::builtin::resp::expiry::Clock::now();
            c.resp.keyspace.for_each_part(|_, store| {
                store.for_each_value(now, |key, value, deadline| {
                    let deadline = deadline.map(|nanos| {
                        clock.unix_ms_of(crate::builtin::resp::store::from_nanos(nanos)) as u64
                    });
                    all.mix(digest::of_key(key, value, deadline));
                });
            });
            reply::simple(c.out, all.hex().as_bytes());
        }
        "digest-value" => {
            reply::array(c.out, c.args.len() - 2);
            for key in &c.args[2..] {
                let found = c
                    .parts
                    .lock(key)
                    .value_ref(key, c.now)
                    .map(|(v, _)| digest::of_value(v));
                reply::simple(c.out, found.unwrap_or_default().hex().as_bytes());
            }
        }
        "quicklist-packed-threshold" => match memory(c.args[2]) {
            Some(size) if size <= (1 << 32) - (1 << 20) => reply::simple(c.out, b"OK"),
            _ => reply::error(
                c.out,
                b"ERR argument must be a memory value bigger than 1 and smaller than 4gb",
            ),
        },
        _ => {
            let seconds = std::str::from_utf8(c.args[2])
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0);
            let Some(seconds) = seconds else {
                let text = format!("ERR invalid sleep time '{}'", printable(c.args[2]));
                reply::error(c.out, text.as_bytes());
                return Flow::Reply;
            };
            let pause = Duration::from_secs_f64(seconds.min(u32::MAX as f64));
            c.later = Some(Box::pin(async move {
                glommio::timer::sleep(pause).await;
                let mut out = Vec::new();
                reply::simple(&mut out, b"OK");
                out
            }));
        }
    }
    Flow::Reply
}

/// DEBUG RELOAD: a snapshot written as SAVE writes it, the keyspace emptied and the snapshot loaded back on
/// the blocking pool; connections on other shards may see the keyspace empty or partly loaded meanwhile
/// (Redis's stops the server instead). Checks that what a snapshot holds is what was saved.
fn reload(c: &mut Call<'_>) {
    let mut claimed = match claim(c) {
        Ok(claimed) => claimed,
        Err(why) => {
            reply::error(c.out, why);
            return;
        }
    };
    c.later = Some(Box::pin(async move {
        let mut out = Vec::new();
        if let Err(e) = claimed.run("DEBUG RELOAD").await {
            reply::error(&mut out, format!("ERR {e}").as_bytes());
            return out;
        }
        claimed.keyspace.flush();
        let (keyspace, path) = (claimed.keyspace.clone(), claimed.path.clone());
        match claimed
            .ctx
            .spawn_blocking(move || load_snapshot(&keyspace, &path))
            .await
        {
            Ok(_) => reply::simple(&mut out, b"OK"),
            Err(e) => reply::error(&mut out, format!("ERR {e}").as_bytes()),
        }
        out
    }));
}

/// DEBUG LOADAOF: once every write appended so far is in the append-only file (and no rewrite runs), the
/// keyspace is emptied and the file loaded back on this shard, which it holds meanwhile (Redis's whole
/// server waits). Connections on other shards may see the keyspace empty or partly loaded meanwhile.
fn loadaof(c: &mut Call<'_>) {
    let Some(dir) = c.resp.ctx.settings().persistence.dir.clone() else {
        reply::error(
            c.out,
            b"ERR DEBUG LOADAOF needs services.resp.settings.persistence.dir, where the append-only file is",
        );
        return;
    };
    if !c.resp.aof.quiesce(Duration::from_secs(60)) {
        reply::error(
            c.out,
            b"ERR the append-only file is still being written after 60 s; try again",
        );
        return;
    }
    let plan = match aof::plan(&dir, false) {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            let text = format!(
                "ERR no append-only file in {} (turn appendonly on, or run BGREWRITEAOF)",
                dir.join(aof::DIR_NAME).display()
            );
            reply::error(c.out, text.as_bytes());
            return;
        }
        Err(e) => {
            reply::error(c.out, format!("ERR {e}").as_bytes());
            return;
        }
    };
    c.resp.keyspace.flush();
    if let Some(base) = &plan.rdb_base {
        if let Err(e) = aof::load_rdb_base(&c.resp.keyspace, base) {
            reply::error(c.out, format!("ERR {e}").as_bytes());
            return;
        }
    }
    match aof::replay(c.resp, &plan) {
        Ok(_) => reply::simple(c.out, b"OK"),
        Err(e) => reply::error(c.out, format!("ERR {e}").as_bytes()),
    }
}

/// DEBUG OBJECT <key>: Redis's line, with what pincore knows: the value's address, its encoding, the bytes
/// of its elements with a length byte each (Redis's `serializedlength` is its RDB size, compressed; this is
/// an estimate of the uncompressed one), the access clock and idle seconds.
fn object(c: &mut Call<'_>) {
    let key = c.args[2];
    let mut part = c.parts.lock(key);
    let Some(Object {
        encoding,
        idle_seconds,
        address,
        ..
    }) = part.object(key, c.now)
    else {
        reply::error(c.out, b"ERR no such key");
        return;
    };
    let length = match part.value_ref(key, c.now) {
        Some((ValueRef::String(bytes), _)) => bytes.len(),
        Some((ValueRef::Collection(collection), _)) => serialized_length(collection),
        None => 0,
    };
    drop(part);
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let lru = unix.saturating_sub(u64::from(idle_seconds)) & ((1 << 24) - 1);
    let line = format!(
        "Value at:{address:#x} refcount:1 encoding:{} serializedlength:{length} lru:{lru} lru_seconds_idle:{idle_seconds}",
        encoding.name()
    );
    reply::simple(c.out, line.as_bytes());
}

fn serialized_length(collection: &Collection) -> usize {
    match collection {
        Collection::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 2).sum(),
        Collection::List(l) => l.iter().map(|e| e.len() + 1).sum(),
        Collection::Set(s) => s.iter().map(|m| m.len() + 1).sum(),
        Collection::ZSet(z) => z.iter().map(|(m, _)| m.len() + 9).sum(),
    }
}

/// DEBUG PROTOCOL <type>: the sample Redis answers for each reply type, in the connection's protocol.
fn sample(c: &mut Call<'_>) {
    let protocol = c.session.protocol;
    let resp3 = protocol == Protocol::Resp3;
    let out = &mut *c.out;
    match String::from_utf8_lossy(c.args[2]).to_ascii_lowercase().as_str() {
        "string" => reply::bulk(out, b"Hello World"),
        "integer" => reply::integer(out, 12345),
        // Redis's sample double, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => reply::double(out, protocol, 3.141),
        "bignum" => {
            const BIGNUM: &[u8] = b"1234567999999999999999999999999999999";
            if resp3 {
                out.push(b'(');
                out.extend_from_slice(BIGNUM);
                out.extend_from_slice(b"\r\n");
            } else {
                reply::bulk(out, BIGNUM);
            }
        }
        "null" => reply::nil(out, protocol),
        "array" | "set" => {
            if c.args[2].eq_ignore_ascii_case(b"set") {
                reply::set(out, protocol, 3);
            } else {
                reply::array(out, 3);
            }
            for j in 0..3 {
                reply::integer(out, j);
            }
        }
        "map" => {
            reply::map(out, protocol, 3);
            for j in 0..3 {
                reply::integer(out, j);
                reply::boolean(out, protocol, j == 1);
            }
        }
        "attrib" => {
            // An attribute is not a reply: the real one follows it (and RESP2 has no attributes).
            if resp3 {
                out.extend_from_slice(b"|1\r\n");
                reply::bulk(out, b"key-popularity");
                reply::array(out, 2);
                reply::bulk(out, b"key:123");
                reply::integer(out, 90);
            }
            reply::bulk(out, b"Some real reply following the attribute");
        }
        "push" => {
            if !resp3 {
                reply::error(out, b"ERR RESP2 is not supported by this command");
                return;
            }
            // A push message is not a reply either: a real one follows it.
            reply::push(out, protocol, 2);
            reply::bulk(out, b"server-cpu-usage");
            reply::integer(out, 42);
            reply::bulk(out, b"Some real reply following the push reply");
        }
        "true" => reply::boolean(out, protocol, true),
        "false" => reply::boolean(out, protocol, false),
        "verbatim" => reply::verbatim(out, protocol, b"txt", b"This is a verbatim\nstring"),
        _ => reply::error(out, b"ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}
