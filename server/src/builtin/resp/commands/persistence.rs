//! SAVE, BGSAVE and LASTSAVE: snapshots of the keyspace on demand (see [`crate::builtin::resp::persistence`]).
//! Both saves write the same way, a part at a time with the file written by the blocking pool; SAVE answers
//! when its snapshot is on disk, BGSAVE at once. One save runs at a time, whichever shard started it.

use std::path::PathBuf;

use pincore_resp::reply;

use super::{Call, Flow};
use crate::builtin::resp::persistence::run_save;

/// Redis's answer to a save while another runs.
const IN_PROGRESS: &[u8] = b"ERR Background save already in progress";

/// The snapshot file, or the error that persistence is off (already written to the reply).
fn snapshot_path(c: &mut Call<'_>) -> Option<PathBuf> {
    let path = c.resp.ctx.settings().persistence.path();
    if path.is_none() {
        reply::error(
            c.out,
            b"ERR persistence is off: set services.resp.settings.persistence.dir to save snapshots",
        );
    }
    path
}

/// SAVE: a snapshot now; `+OK` once it is on disk.
pub fn save(c: &mut Call<'_>) -> Flow {
    let Some(path) = snapshot_path(c) else {
        return Flow::Reply;
    };
    if !c.resp.saves.begin() {
        reply::error(c.out, IN_PROGRESS);
        return Flow::Reply;
    }
    let (ctx, keyspace, saves) = (
        c.resp.ctx.clone(),
        c.resp.keyspace.clone(),
        c.resp.saves.clone(),
    );
    c.later = Some(Box::pin(async move {
        let mut out = Vec::new();
        match run_save(&ctx, &keyspace, &saves, path, "SAVE").await {
            Ok(_) => reply::simple(&mut out, b"OK"),
            Err(e) => reply::error(&mut out, format!("ERR {e}").as_bytes()),
        }
        out
    }));
    Flow::Reply
}

/// BGSAVE [SCHEDULE]: a snapshot in the background (the housekeeping queue, which yields to connections).
/// With one running, an error, or with SCHEDULE the answer that it is scheduled, as Redis's: the one
/// running covers it.
pub fn bgsave(c: &mut Call<'_>) -> Flow {
    let schedule = match c.args.get(1) {
        None => false,
        Some(a) if c.args.len() == 2 && a.eq_ignore_ascii_case(b"SCHEDULE") => true,
        Some(_) => {
            reply::error(c.out, b"ERR syntax error");
            return Flow::Reply;
        }
    };
    let Some(path) = snapshot_path(c) else {
        return Flow::Reply;
    };
    if !c.resp.saves.begin() {
        match schedule {
            true => reply::simple(c.out, b"Background saving scheduled"),
            false => reply::error(c.out, IN_PROGRESS),
        }
        return Flow::Reply;
    }
    let (ctx, keyspace, saves) = (
        c.resp.ctx.clone(),
        c.resp.keyspace.clone(),
        c.resp.saves.clone(),
    );
    c.resp.ctx.spawn_housekeeping(async move {
        // The outcome is logged and shown by INFO (rdb_last_bgsave_status).
        let _ = run_save(&ctx, &keyspace, &saves, path, "BGSAVE").await;
    });
    reply::simple(c.out, b"Background saving started");
    Flow::Reply
}

/// LASTSAVE: the Unix time of the last successful save (or of the snapshot loaded at start, or of the start).
pub fn lastsave(c: &mut Call<'_>) -> Flow {
    reply::integer(c.out, c.resp.saves.status().last_save);
    Flow::Reply
}
