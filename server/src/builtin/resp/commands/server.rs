//! Server commands: DBSIZE, FLUSHALL, FLUSHDB, MONITOR, TIME, SHUTDOWN, COMMAND (CONFIG has a file of its own, `config.rs`;
//! INFO, which waits for every shard, is in [`crate::builtin::resp::info`]).

use pincore_resp::reply;

use super::{flag, printable, Call, Flow, Spec, COMMANDS};

pub fn dbsize(c: &mut Call<'_>) -> Flow {
    reply::integer(c.out, c.parts.key_count() as i64);
    Flow::Reply
}

/// FLUSHALL and FLUSHDB (there is one database) [ASYNC|SYNC]: freeing is always off the request path.
pub fn flushall(c: &mut Call<'_>) -> Flow {
    if let Some(mode) = c.args.get(1) {
        if c.args.len() > 2
            || !(mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC"))
        {
            reply::error(c.out, b"ERR syntax error");
            return Flow::Reply;
        }
    }
    c.parts.flush();
    // Tracking connections are told that every key changed (a null invalidation), and the tracking
    // table is emptied, as Redis does.
    let pubsub = &c.resp.pubsub;
    pubsub.tracking.flush(pubsub.limit());
    reply::simple(c.out, b"OK");
    Flow::Reply
}

/// MONITOR: from now on every command run, on any shard, arrives on this connection (see
/// [`crate::builtin::resp::monitor`]). A connection that already monitors gets no reply, as in Redis.
pub fn monitor(c: &mut Call<'_>) -> Flow {
    let subscriptions = c.session.subscriptions(&c.resp.pubsub);
    if !subscriptions.monitoring() {
        subscriptions.monitor();
        reply::simple(c.out, b"OK");
    }
    Flow::Reply
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]: stops the server as SIGTERM does (see README "Signals"): no new
/// connections, the requests in flight answered, then the snapshot on exit when
/// `persistence.save_on_shutdown` says so. NOSAVE or SAVE that contradict that setting are refused rather
/// than ignored; NOW and FORCE change nothing (there is no replica to wait for and the snapshot's failure
/// is reported by the exit code). The connection closes without a reply, as Redis's does; ABORT has no
/// shutdown to cancel (once begun, a drain is not called off).
pub fn shutdown(c: &mut Call<'_>) -> Flow {
    let saves = c.resp.ctx.settings().persistence.save_on_shutdown();
    for option in &c.args[1..] {
        let upper = option.to_ascii_uppercase();
        let refusal: Option<&[u8]> = match upper.as_slice() {
            b"NOW" | b"FORCE" => None,
            b"SAVE" if !saves => Some(b"ERR SHUTDOWN SAVE: this server does not save on shutdown (set services.resp.settings.persistence.dir, and save_on_shutdown: true)"),
            b"NOSAVE" if saves => Some(b"ERR SHUTDOWN NOSAVE: this server saves a snapshot on shutdown (set services.resp.settings.persistence.save_on_shutdown: false, then send SIGHUP)"),
            b"SAVE" | b"NOSAVE" => None,
            b"ABORT" => Some(b"ERR No shutdown in progress."),
            _ => Some(b"ERR syntax error"),
        };
        if let Some(message) = refusal {
            reply::error(c.out, message);
            return Flow::Reply;
        }
    }
    tracing::info!(client = c.session.id, "SHUTDOWN received");
    if let Err(e) =
        nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM)
    {
        reply::error(c.out, format!("ERR SHUTDOWN failed: {e}").as_bytes());
        return Flow::Reply;
    }
    Flow::Close
}

/// TIME: Unix seconds and microseconds, as two bulk strings.
pub fn time(c: &mut Call<'_>) -> Flow {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    reply::array(c.out, 2);
    reply::bulk(c.out, now.as_secs().to_string().as_bytes());
    reply::bulk(c.out, now.subsec_micros().to_string().as_bytes());
    Flow::Reply
}

/// COMMAND [COUNT | INFO name... | DOCS [name...]], generated from the table.
pub fn command(c: &mut Call<'_>) -> Flow {
    let protocol = c.session.protocol;
    let out = &mut *c.out;
    let named = |args: &[&[u8]]| -> Vec<Option<&'static Spec>> {
        args.iter()
            .map(|name| {
                COMMANDS
                    .iter()
                    .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
            })
            .collect()
    };
    match c.args.get(1) {
        None => {
            reply::array(out, COMMANDS.len());
            COMMANDS.iter().for_each(|spec| info(out, spec));
        }
        Some(sub) if sub.eq_ignore_ascii_case(b"COUNT") => {
            reply::integer(out, COMMANDS.len() as i64)
        }
        Some(sub) if sub.eq_ignore_ascii_case(b"INFO") => {
            let specs = if c.args.len() == 2 {
                COMMANDS.iter().map(Some).collect()
            } else {
                named(&c.args[2..])
            };
            reply::array(out, specs.len());
            for spec in specs {
                match spec {
                    Some(spec) => info(out, spec),
                    None => reply::nil(out, protocol),
                }
            }
        }
        Some(sub) if sub.eq_ignore_ascii_case(b"DOCS") => {
            let specs: Vec<&Spec> = if c.args.len() == 2 {
                COMMANDS.iter().collect()
            } else {
                named(&c.args[2..]).into_iter().flatten().collect()
            };
            reply::map(out, protocol, specs.len());
            for spec in specs {
                reply::bulk(out, spec.name.as_bytes());
                reply::map(out, protocol, 2);
                reply::bulk(out, b"summary");
                reply::bulk(out, spec.summary.as_bytes());
                reply::bulk(out, b"group");
                reply::bulk(out, spec.group.as_bytes());
            }
        }
        Some(sub) => {
            let text = format!(
                "ERR unknown subcommand '{}'. Try COMMAND COUNT, DOCS or INFO.",
                printable(sub)
            );
            reply::error(out, text.as_bytes());
        }
    }
    Flow::Reply
}

/// One command as Redis 7's COMMAND INFO shows it: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specs, subcommands.
fn info(out: &mut Vec<u8>, spec: &Spec) {
    reply::array(out, 10);
    reply::bulk(out, spec.name.as_bytes());
    reply::integer(out, i64::from(spec.arity));
    let flags: Vec<&str> = flag::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    reply::array(out, flags.len());
    for name in flags {
        reply::simple(out, name.as_bytes());
    }
    let (first, last, step) = spec.keys;
    reply::integer(out, i64::from(first));
    reply::integer(out, i64::from(last));
    reply::integer(out, i64::from(step));
    reply::array(out, 0);
    reply::array(out, 0);
    reply::array(out, 0);
    reply::array(out, 0);
}
