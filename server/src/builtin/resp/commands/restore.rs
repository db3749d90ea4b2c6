//! DUMP and RESTORE: a key's value as Redis's serialized payload (see [`crate::builtin::resp::dump`]), and a
//! key made from one, with RESTORE's REPLACE, ABSTTL, IDLETIME and FREQ as Redis 7.0 reads them.

use pincore_resp::reply;

use super::{Call, Flow};
use crate::builtin::resp::dump;
use crate::builtin::resp::eviction::Policy;
use crate::builtin::resp::expiry::{Clock, NOT_AN_INTEGER, SYNTAX};
use crate::builtin::resp::migrate;
use crate::builtin::resp::notify::{self, class};
use crate::builtin::resp::store::parse_i64;

/// DUMP key: the payload, or nil when the key is missing.
pub fn dump(c: &mut Call<'_>) -> Flow {
    let key = c.args[1];
    let store = c.parts.lock(key);
    match store.value_ref(key, c.now) {
        Some((value, _)) => reply::bulk(c.out, &dump::serialize(value)),
        None => reply::nil(c.out, c.session.protocol),
    }
    Flow::Reply
}

/// RESTORE's options.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    replace: bool,
    absolute: bool,
    idle_seconds: Option<u64>,
    frequency: Option<u8>,
}

/// Reads RESTORE's options as Redis does: IDLETIME and FREQ exclude each other (the second one given is a
/// syntax error), a bad number is answered before anything else is looked at.
fn options(args: &[&[u8]]) -> Result<Options, &'static [u8]> {
    let mut options = Options::default();
    let mut i = 0;
    while i < args.len() {
        let option = args[i];
        let value = args.get(i + 1);
        if option.eq_ignore_ascii_case(b"REPLACE") {
            options.replace = true;
        } else if option.eq_ignore_ascii_case(b"ABSTTL") {
            options.absolute = true;
        } else if option.eq_ignore_ascii_case(b"IDLETIME")
            && value.is_some()
            && options.frequency.is_none()
        {
            let n = value.copied().and_then(parse_i64).ok_or(NOT_AN_INTEGER)?;
            let n =
                u64::try_from(n).map_err(|_| &b"ERR Invalid IDLETIME value, must be >= 0"[..])?;
            options.idle_seconds = Some(n);
            i += 1;
        } else if option.eq_ignore_ascii_case(b"FREQ")
            && value.is_some()
            && options.idle_seconds.is_none()
        {
            let n = value.copied().and_then(parse_i64).ok_or(NOT_AN_INTEGER)?;
            let n = u8::try_from(n)
                .map_err(|_| &b"ERR Invalid FREQ value, must be >= 0 and <= 255"[..])?;
            options.frequency = Some(n);
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    Ok(options)
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]: the key made from the
/// payload, with a TTL in milliseconds (0: none; with ABSTTL a Unix time in milliseconds). A deadline
/// already past makes no key (and, with REPLACE, deletes the old one), as in Redis. IDLETIME sets the idle
/// time OBJECT IDLETIME and LRU eviction see unless an LFU policy is set; FREQ the LFU counter under one.
pub fn restore(c: &mut Call<'_>) -> Flow {
    let (key, ttl, payload) = (c.args[1], c.args[2], c.args[3]);
    let options = match options(&c.args[4..]) {
        Ok(options) => options,
        Err(message) => {
            reply::error(c.out, message);
            return Flow::Reply;
        }
    };
    let (_, policy) = c.resp.keyspace.limit();
    let max_bulk_len = c.resp.ctx.config().limits.max_bulk_len;
    let mut store = c.parts.lock(key);
    if !options.replace && store.exists(key, c.now) {
        reply::error(c.out, b"BUSYKEY Target key name already exists.");
        return Flow::Reply;
    }
    let ttl = match parse_i64(ttl) {
        None => {
            reply::error(c.out, NOT_AN_INTEGER);
            return Flow::Reply;
        }
        Some(n) if n < 0 => {
            reply::error(c.out, b"ERR Invalid TTL value, must be >= 0");
            return Flow::Reply;
        }
        Some(n) => n,
    };
    let value = match dump::deserialize(payload, max_bulk_len) {
        Ok(value) => value,
        Err(refused) => {
            reply::error(c.out, refused.message());
            return Flow::Reply;
        }
    };
    let clock = Clock::now();
    let deadline = match (ttl, options.absolute) {
        (0, _) => None,
        (at, true) if at <= clock.unix_ms() => {
            // Already past: no key, and the replaced one deleted.
            if options.replace && store.delete(key, c.now) {
                notify::key(&c.resp.pubsub, class::GENERIC, "del", key);
            }
            reply::simple(c.out, b"OK");
            return Flow::Reply;
        }
        (at, true) => Some(clock.instant_at(at)),
        (ms, false) => Some(clock.instant_at(clock.unix_ms().saturating_add(ms))),
    };
    store.put(key, value, deadline, c.now);
    let lfu = matches!(policy, Policy::AllKeysLfu | Policy::VolatileLfu);
    match (lfu, options.idle_seconds, options.frequency) {
        (false, Some(idle), _) => store.set_access(key, Some(idle), None, c.now),
        (true, _, Some(frequency)) => store.set_access(key, None, Some(frequency), c.now),
        _ => {}
    }
    notify::key(&c.resp.pubsub, class::GENERIC, "restore", key);
    reply::simple(c.out, b"OK");
    Flow::Reply
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password | AUTH2 username
/// password] [KEYS key ...]: the keys sent to another server as RESTOREs with their remaining TTL, then
/// deleted here (unless COPY) once the target acknowledged them. `+NOKEY` without connecting when none of
/// the keys exists.
///
/// The keys are serialized under their part locks, sent from the blocking pool (see
/// [`crate::builtin::resp::migrate`]), and deleted under the locks again afterwards, only if each still
/// holds the value that was sent: a key written meanwhile stays (Redis, which blocks its whole server
/// during MIGRATE, has no "meanwhile").
pub fn migrate(c: &mut Call<'_>) -> Flow {
    let request = match migrate::parse(c.args) {
        Ok(request) => request,
        Err(message) => {
            reply::error(c.out, message);
            return Flow::Reply;
        }
    };
    let mut items = Vec::new();
    {
        let mut locked = c.parts.lock_keys(request.keys.iter().copied());
        for key in &request.keys {
            let store = locked.store(key);
            let Some(ttl) = store.ttl(key, c.now) else {
                continue;
            };
            if let Some((value, _)) = store.value_ref(key, c.now) {
                items.push(migrate::Item {
                    key: key.to_vec(),
                    // 0 means no TTL to RESTORE: one under a millisecond is sent as 1.
                    ttl_ms: ttl.map_or(0, |ms| u64::try_from(ms).unwrap_or(u64::MAX).max(1)),
                    payload: dump::serialize(value),
                });
            }
        }
    }
    if items.is_empty() {
        reply::simple(c.out, b"NOKEY");
        return Flow::Reply;
    }
    let transfer = migrate::Transfer {
        host: String::from_utf8_lossy(request.host).into_owned(),
        port: String::from_utf8_lossy(request.port).into_owned(),
        db: request.db,
        timeout: request.timeout,
        replace: request.replace,
        auth: request
            .auth
            .map(|(user, password)| (user.map(<[u8]>::to_vec), password.to_vec())),
        items,
    };
    let copy = request.copy;
    let ctx = c.resp.ctx.clone();
    let keyspace = c.resp.keyspace.clone();
    let pubsub = c.resp.pubsub.clone();
    c.later = Some(Box::pin(async move {
        let sent = transfer.clone();
        let outcome = ctx.spawn_blocking(move || sent.run()).await;
        if !copy {
            let now = std::time::Instant::now();
            for &index in &outcome.acknowledged {
                let item = &transfer.items[index];
                let mut store = keyspace.lock(&item.key);
                let unchanged = store
                    .value_ref(&item.key, now)
                    .is_some_and(|(value, _)| dump::serialize(value) == item.payload);
                if unchanged && store.delete(&item.key, now) {
                    notify::key(&pubsub, class::GENERIC, "del", &item.key);
                }
            }
        }
        let mut out = Vec::new();
        match outcome.error {
            Some(text) => reply::error(&mut out, &text),
            None => reply::simple(&mut out, b"OK"),
        }
        out
    }));
    Flow::Reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_redis_reads_them() {
        assert_eq!(
            options(&[b"replace", b"ABSTTL", b"idletime", b"10"]),
            Ok(Options {
                replace: true,
                absolute: true,
                idle_seconds: Some(10),
                frequency: None
            })
        );
        assert_eq!(
            options(&[b"FREQ", b"100"]).map(|o| o.frequency),
            Ok(Some(100))
        );
        assert_eq!(options(&[b"IDLETIME", b"1", b"FREQ", b"1"]), Err(SYNTAX));
        assert_eq!(options(&[b"FREQ", b"1", b"IDLETIME", b"1"]), Err(SYNTAX));
        assert_eq!(options(&[b"IDLETIME"]), Err(SYNTAX));
        assert_eq!(
            options(&[b"IDLETIME", b"-1"]),
            Err(&b"ERR Invalid IDLETIME value, must be >= 0"[..])
        );
        assert_eq!(
            options(&[b"FREQ", b"256"]),
            Err(&b"ERR Invalid FREQ value, must be >= 0 and <= 255"[..])
        );
        assert_eq!(options(&[b"FREQ", b"x"]), Err(NOT_AN_INTEGER));
    }
}
