//! SAVE, BGSAVE and LASTSAVE: snapshots of the keyspace on demand (see [`crate::builtin::resp::persistence`]).
//! Both saves write the same way, a part at a time with the file written by the blocking pool; SAVE answers
//! when its snapshot is on disk, BGSAVE at once. One save runs at a time, whichever shard started it.

use std::path::PathBuf;

use pincore_resp::reply;

use std::sync::Arc;

use super::{Call, Flow};
use crate::builtin::resp::keyspace::Keyspace;
use crate::builtin::resp::persistence::{run_save, Saves};
use crate::builtin::resp::snapshot::{SnapshotError, SnapshotStats};
use crate::builtin::resp::Resp;
use crate::framework::Context;

/// Redis's answer to a save while another runs.
pub const IN_PROGRESS: &[u8] = b"ERR Background save already in progress";
const OFF: &[u8] =
    b"ERR persistence is off: set services.resp.settings.persistence.dir to save snapshots";

/// A save a command has claimed ([`Saves::begin`]), with what it runs on. Dropped without having run (the
/// connection closed before SAVE's turn came), it gives the claim up.
pub struct Claimed {
    pub path: PathBuf,
    pub ctx: Context<Resp>,
    pub keyspace: Arc<Keyspace>,
    pub saves: Arc<Saves>,
    ran: bool,
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if !self.ran {
            self.saves.abandon(false);
        }
    }
}

impl Claimed {
    /// Runs the save (see [`run_save`], which ends the claim however it ends).
    pub async fn run(&mut self, why: &'static str) -> Result<SnapshotStats, SnapshotError> {
        self.ran = true;
        run_save(
            &self.ctx,
            &self.keyspace,
            &self.saves,
            self.path.clone(),
            why,
        )
        .await
    }
}

/// Claims the one save that may run, or says why not: persistence is off ([`OFF`]), or a save runs
/// ([`IN_PROGRESS`]).
pub fn claim(c: &Call<'_>) -> Result<Claimed, &'static [u8]> {
    let path = c.resp.ctx.settings().persistence.path().ok_or(OFF)?;
    if !c.resp.saves.begin() {
        return Err(IN_PROGRESS);
    }
    Ok(Claimed {
        path,
        ctx: c.resp.ctx.clone(),
        keyspace: c.resp.keyspace.clone(),
        saves: c.resp.saves.clone(),
        ran: false,
    })
}

/// SAVE: a snapshot now; `+OK` once it is on disk.
pub fn save(c: &mut Call<'_>) -> Flow {
    let mut claimed = match claim(c) {
        Ok(claimed) => claimed,
        Err(why) => {
            reply::error(c.out, why);
            return Flow::Reply;
        }
    };
    c.later = Some(Box::pin(async move {
        let mut out = Vec::new();
        match claimed.run("SAVE").await {
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
    match claim(c) {
        Ok(mut claimed) => {
            c.resp.ctx.spawn_housekeeping(async move {
                // The outcome is logged and shown by INFO (rdb_last_bgsave_status).
                let _ = claimed.run("BGSAVE").await;
            });
            reply::simple(c.out, b"Background saving started");
        }
        Err(IN_PROGRESS) if schedule => reply::simple(c.out, b"Background saving scheduled"),
        Err(why) => reply::error(c.out, why),
    }
    Flow::Reply
}

/// BGREWRITEAOF: the append-only file's rewrite, on its own thread (see `aof.rs`); INFO persistence shows
/// its progress and outcome. With `appendonly` off it writes a base and a manifest that list the keyspace
/// as it is now (DEBUG LOADAOF and a start with `appendonly` on read them), as Redis 7.0 does.
pub fn bgrewriteaof(c: &mut Call<'_>) -> Flow {
    match c.resp.aof.request_rewrite() {
        Ok(()) => reply::simple(c.out, b"Background append only file rewriting started"),
        Err(why) => reply::error(c.out, why.as_bytes()),
    }
    Flow::Reply
}

/// LASTSAVE: the Unix time of the last successful save (or of the snapshot loaded at start, or of the start).
pub fn lastsave(c: &mut Call<'_>) -> Flow {
    reply::integer(c.out, c.resp.saves.status().last_save);
    Flow::Reply
}
