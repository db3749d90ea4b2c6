//! SYNC, PSYNC, REPLCONF and WAIT: the master side of replication (see [`crate::builtin::resp::replication`]).
//! Becoming a replica (REPLICAOF, SLAVEOF) stays declined.

use std::time::{Duration, Instant};

use pincore_resp::reply;

use super::{Call, Flow};
use crate::builtin::resp::integer::parse_i64;

/// SYNC: the connection becomes a replica's link once the replies before it are out.
pub fn sync(c: &mut Call<'_>) -> Flow {
    start(c, false)
}

/// PSYNC replid offset: a partial resynchronization when the backlog still holds `offset` of this
/// server's stream `replid`, else a full one (see `feed.rs`).
pub fn psync(c: &mut Call<'_>) -> Flow {
    let from = std::str::from_utf8(c.args[2])
        .ok()
        .and_then(|o| o.parse::<u64>().ok());
    c.session.psync_from = from.map(|from| (c.args[1].to_vec(), from));
    start(c, true)
}

fn start(c: &mut Call<'_>, psync: bool) -> Flow {
    if c.session.in_exec {
        reply::error(c.out, b"ERR Command not allowed inside a transaction");
        return Flow::Reply;
    }
    c.session.sync = Some(psync);
    Flow::Reply
}

/// REPLCONF option value [option value ...]: listening-port is kept for INFO, the rest (capa, ip-address,
/// getack) accepted as Redis accepts them; ACK, from a replica's link, is read there and answers nothing.
pub fn replconf(c: &mut Call<'_>) -> Flow {
    if c.args.len().is_multiple_of(2) {
        reply::error(c.out, b"ERR syntax error");
        return Flow::Reply;
    }
    for pair in c.args[1..].chunks_exact(2) {
        let (option, value) = (pair[0], pair[1]);
        if option.eq_ignore_ascii_case(b"listening-port") {
            let port = parse_i64(value).and_then(|p| u16::try_from(p).ok());
            match port {
                Some(port) => c.session.listening_port = port,
                None => {
                    reply::error(c.out, b"ERR value is not an integer or out of range");
                    return Flow::Reply;
                }
            }
        } else if option.eq_ignore_ascii_case(b"ack") {
            return Flow::Reply;
        } else if !matches!(
            option.to_ascii_lowercase().as_slice(),
            b"capa" | b"ip-address" | b"getack" | b"rdb-only"
        ) {
            let text = format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(option)
            );
            reply::error(c.out, text.as_bytes());
            return Flow::Reply;
        }
    }
    reply::simple(c.out, b"OK");
    Flow::Reply
}

/// WAIT numreplicas timeout: the replicas that acknowledged the stream up to now, once `numreplicas` have
/// or `timeout` ms passed (0: no limit but the server draining). Asks them to acknowledge at once.
pub fn wait(c: &mut Call<'_>) -> Flow {
    let (Some(wanted), Some(timeout)) = (parse_i64(c.args[1]), parse_i64(c.args[2])) else {
        reply::error(c.out, b"ERR value is not an integer or out of range");
        return Flow::Reply;
    };
    if timeout < 0 {
        reply::error(c.out, b"ERR timeout is negative");
        return Flow::Reply;
    }
    let keyspace = c.resp.keyspace.clone();
    let offset = keyspace.feed.offset();
    let wanted = usize::try_from(wanted).unwrap_or(0);
    let acked = keyspace.feed.acknowledged(offset);
    // Inside EXEC nothing waits: the count as it stands.
    if acked >= wanted || c.session.in_exec {
        reply::integer(c.out, acked as i64);
        return Flow::Reply;
    }
    keyspace.feed.to_replicas(&[b"REPLCONF", b"GETACK", b"*"]);
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    let ctx = c.resp.ctx.clone();
    c.later = Some(Box::pin(async move {
        loop {
            let acked = keyspace.feed.acknowledged(offset);
            if acked >= wanted || deadline.is_some_and(|at| Instant::now() >= at) || ctx.draining()
            {
                let mut out = Vec::new();
                reply::integer(&mut out, acked as i64);
                return out;
            }
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
    }));
    Flow::Reply
}
