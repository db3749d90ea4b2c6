//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, as Redis 7.0's `multi.c`.
//!
//! Between MULTI and EXEC, [`crate::builtin::resp::dispatch`] checks each command and queues it
//! ([`crate::builtin::resp::transaction`]). EXEC locks every keyspace part that a queued command's keys (by
//! the table's key positions) or a watched key fall in, all of them when a queued command works on the whole
//! keyspace (FLUSHALL, DBSIZE, RANDOMKEY) or reads keys known only as it runs (SORT with BY or GET patterns), in ascending order as multi-key commands do, and runs the queue
//! under those locks: no other client, on any shard, sees a state between two of its commands.

use pincore_resp::reply;

use super::{flag, sort, Call, Deferred, Flow, Route, Run, COMMANDS};
use crate::builtin::resp::feed::Command;
use crate::builtin::resp::keyspace::{Keyspace, Locked, Parts, OOM, PARTS};
use crate::builtin::resp::propagate;
use crate::builtin::resp::transaction::Transaction;

const EXEC_ABORT: &[u8] = b"EXECABORT Transaction discarded because of previous errors.";

/// `+OK`, or the error.
fn ok_or_error(c: &mut Call<'_>, result: Result<(), &[u8]>) -> Flow {
    match result {
        Ok(()) => reply::simple(c.out, b"OK"),
        Err(message) => reply::error(c.out, message),
    }
    Flow::Reply
}

pub fn multi(c: &mut Call<'_>) -> Flow {
    let result = match c.session.transaction {
        Some(_) => Err(&b"ERR MULTI calls can not be nested"[..]),
        None => {
            c.session.transaction = Some(Transaction::default());
            Ok(())
        }
    };
    ok_or_error(c, result)
}

pub fn discard(c: &mut Call<'_>) -> Flow {
    let result = match c.session.transaction {
        None => Err(&b"ERR DISCARD without MULTI"[..]),
        Some(_) => {
            c.session.end_transaction(&mut c.parts);
            c.resp.transactions.discarded.inc();
            Ok(())
        }
    };
    ok_or_error(c, result)
}

pub fn watch(c: &mut Call<'_>) -> Flow {
    let limits = &c.resp.ctx.config().limits;
    let bounds = (limits.max_array_len, limits.max_request_bytes);
    let result = if c.session.transaction.is_some() {
        Err(&b"ERR WATCH inside MULTI is not allowed"[..])
    } else {
        let watched = c
            .session
            .watching
            .watch(&mut c.parts, &c.args[1..], bounds, c.now);
        if watched.is_err() {
            c.resp.ctx.error("watch_too_large");
        }
        watched
    };
    ok_or_error(c, result)
}

pub fn unwatch(c: &mut Call<'_>) -> Flow {
    c.session.watching.clear(&mut c.parts);
    ok_or_error(c, Ok(()))
}

/// EXEC: `-EXECABORT` if a command was refused while queueing, a null array if a watched key changed,
/// else every queued command's reply in one array (errors of single commands stay in their places).
pub fn exec(c: &mut Call<'_>) -> Flow {
    let Some(transaction) = c.session.transaction.take() else {
        reply::error(c.out, b"ERR EXEC without MULTI");
        return Flow::Reply;
    };
    let resp = c.resp;
    let counted = &resp.transactions;
    if transaction.aborted() {
        c.session.watching.clear(&mut c.parts);
        counted.error_aborted.inc();
        reply::error(c.out, EXEC_ABORT);
        return Flow::Reply;
    }
    // As Redis: a transaction that writes is refused whole while too few replicas are good.
    let writes = transaction
        .rows()
        .any(|command| COMMANDS[command].flags & flag::WRITE != 0);
    if writes && c.parts.keyspace().feed.refuses_writes() {
        c.session.watching.clear(&mut c.parts);
        counted.error_aborted.inc();
        let text = [
            &b"EXECABORT Transaction discarded because of: "[..],
            super::super::feed::NOREPLICAS,
        ]
        .concat();
        reply::error(c.out, &text);
        return Flow::Reply;
    }
    // As Redis: a transaction that may grow memory is refused whole when there is no room.
    let grows = transaction
        .rows()
        .any(|command| COMMANDS[command].flags & flag::DENYOOM != 0);
    if grows && !resp.make_room(c.now) {
        c.session.watching.clear(&mut c.parts);
        counted.error_aborted.inc();
        let text = [&b"EXECABORT Transaction discarded because of: "[..], OOM].concat();
        reply::error(c.out, &text);
        return Flow::Reply;
    }
    let keyspace = c.parts.keyspace();
    let mut indexes: Vec<usize> = c
        .session
        .watching
        .keys()
        .map(|k| keyspace.part_of(k))
        .collect();
    let mut everything = false;
    transaction.each(|command, args| {
        everything |= lock_set(keyspace, command, args, &mut indexes);
    });
    if everything {
        indexes = (0..PARTS).collect();
    }
    let mut held = keyspace.lock_parts(indexes);
    let mut parts = Parts::Held {
        keyspace,
        held: &mut held,
    };
    let broken = c.session.watching.broken(&mut parts, c.now);
    // As Redis, the keys are unwatched before the commands run: their own writes abort nothing.
    c.session.watching.clear(&mut parts);
    if broken {
        counted.watch_aborted.inc();
        reply::nil_array(c.out, c.session.protocol);
        return Flow::Reply;
    }
    let start = c.out.len();
    reply::array(c.out, transaction.len());
    let feeding = keyspace.feed.active();
    let mut propagated: Vec<Command> = Vec::new();
    // Replies still being made (CONFIG SET, CLIENT LIST, KEYS), by where they go in EXEC's reply.
    let mut deferred: Vec<(usize, Deferred)> = Vec::new();
    // Keys a tracking connection read in the transaction: remembered once its writes were invalidated
    // (when the locks are released), so that its own writes before a read do not invalidate the read.
    let mut read: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
    c.session.in_exec = true;
    transaction.each(|command, args| {
        // Only commands that run here are queued (see `dispatch`); the others cannot reach this.
        let Run::Here(run) = COMMANDS[command].run else {
            reply::error(c.out, b"ERR command not allowed inside a transaction");
            return;
        };
        // Counted as calls; their time is EXEC's (one clock read per transaction, not per command).
        resp.count(command);
        if COMMANDS[command].flags & super::flag::WRITE != 0 {
            resp.saves.changed(resp.ctx.shard_id());
        }
        let before = if feeding {
            propagate::changes(&mut held)
        } else {
            0
        };
        let mark = c.out.len();
        let later = run_held(c, args, &mut held, run);
        if feeding {
            let name = COMMANDS[command].name;
            let reply = &c.out[mark..];
            propagated.extend(propagate::of(&mut held, before, name, args, reply, c.now));
        }
        if c.session.tracking.is_some() {
            let keys = COMMANDS[command]
                .keys_of(args)
                .map(<[u8]>::to_vec)
                .collect();
            read.push((command, keys));
        }
        let client = &c.session.client;
        crate::builtin::resp::monitor::feed(&resp.pubsub, client, &COMMANDS[command], args);
        crate::builtin::resp::notify::after(
            &resp.pubsub,
            COMMANDS[command].name,
            args,
            &c.out[mark..],
        );
        if let Some(later) = later {
            deferred.push((c.out.len() - start, later));
        }
    });
    c.session.in_exec = false;
    if feeding {
        propagate::dropped(keyspace, &mut held);
        keyspace.feed.append(&propagated);
    }
    counted.committed.inc();
    drop(held);
    for (command, keys) in read {
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        super::remember_keys(resp, c.session, &COMMANDS[command], &keys);
    }
    if !deferred.is_empty() {
        c.later = Some(finish_after_locks(c.out.split_off(start), deferred));
    }
    Flow::Reply
}

/// Adds to `indexes` the parts command `command` with `args` reaches by its keys; true if it may reach any
/// (a whole-keyspace command, a SORT with BY or GET patterns): then every part must be held.
pub fn lock_set(
    keyspace: &Keyspace,
    command: usize,
    args: &[&[u8]],
    indexes: &mut Vec<usize>,
) -> bool {
    let spec = &COMMANDS[command];
    match spec.route {
        Route::AllShards => true,
        Route::Keys => {
            indexes.extend(spec.keys_of(args).map(|k| keyspace.part_of(k)));
            indexes.extend(counted_keys(spec.name, args).map(|k| keyspace.part_of(k)));
            indexes.extend(sort::store_destination(spec.name, args).map(|k| keyspace.part_of(k)));
            // A SORT with BY or GET patterns reads keys known only as it runs.
            sort::reaches_every_key(spec.name, args)
        }
        // Channels take the subscription registry's own lock, never a keyspace part.
        Route::Connection | Route::Channels => false,
    }
}

/// Runs one command with `args` for the connection of `c` on the parts `held` (EXEC's, or a propagated
/// write's), writing to `c`'s output; what it leaves to finish later.
fn run_held(
    c: &mut Call<'_>,
    args: &[&[u8]],
    held: &mut Locked<'_>,
    run: impl FnOnce(&mut Call<'_>) -> Flow,
) -> Option<Deferred> {
    let keyspace = c.parts.keyspace();
    let mut call = Call {
        resp: c.resp,
        session: &mut *c.session,
        args,
        now: c.now,
        out: &mut *c.out,
        parts: Parts::Held { keyspace, held },
        later: None,
    };
    run(&mut call);
    call.later
}

/// Runs a write command while the feed has a consumer: as a transaction of one, holding every part it
/// reaches, so that what it propagates is appended before any other command can change those keys.
pub fn run_propagated(c: &mut Call<'_>, run: fn(&mut Call<'_>) -> Flow, command: usize) -> Flow {
    let keyspace = c.parts.keyspace();
    let mut indexes = Vec::new();
    if lock_set(keyspace, command, c.args, &mut indexes) {
        indexes = (0..PARTS).collect();
    }
    let mut held = keyspace.lock_parts(indexes);
    let before = propagate::changes(&mut held);
    let mark = c.out.len();
    let mut flow = Flow::Reply;
    c.later = run_held(c, c.args, &mut held, |call| {
        flow = run(call);
        flow
    });
    let name = COMMANDS[command].name;
    let propagated = propagate::of(&mut held, before, name, c.args, &c.out[mark..], c.now);
    propagate::dropped(keyspace, &mut held);
    keyspace.feed.append(&propagated);
    flow
}

/// EXEC's reply when some of its commands defer theirs (CONFIG SET and RESETSTAT, CLIENT LIST and KILL,
/// KEYS): they wait for other shards or yield between steps, which must not happen under the transaction's
/// locks, so they finish once EXEC has released them, each reply put in its place in `written`. Their effect
/// comes after the rest of the transaction's, not between its commands.
fn finish_after_locks(written: Vec<u8>, deferred: Vec<(usize, Deferred)>) -> Deferred {
    Box::pin(async move {
        let mut out = Vec::with_capacity(written.len());
        let mut at = 0;
        for (position, later) in deferred {
            out.extend_from_slice(&written[at..position]);
            out.extend_from_slice(&later.await);
            at = position;
        }
        out.extend_from_slice(&written[at..]);
        out
    })
}

/// The source keys of the commands whose table row names only the destination, because a count argument
/// says how many follow (ZUNIONSTORE and ZINTERSTORE: `destination numkeys key [key ...]`), as Redis's key
/// specs find them. EXEC must hold their parts too.
pub fn counted_keys<'a>(name: &str, args: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let count = match name {
        "zunionstore" | "zinterstore" | "zdiffstore" => args
            .get(2)
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
            .unwrap_or(0),
        _ => 0,
    };
    args.iter().skip(3).take(count).copied()
}
