//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO: a connection's side of client-side caching (the
//! shared side is [`crate::builtin::resp::tracking`]). Options are read and checked as Redis 7.0 does,
//! with its error texts, before anything changes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pincore_resp::reply;

use super::{printable, Call, Flow};
use crate::builtin::resp::clients;
use crate::builtin::resp::expiry::{NOT_AN_INTEGER, SYNTAX};
use crate::builtin::resp::pubsub::Tracked;
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::tracking::Options;

/// CLIENT TRACKING on|off [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP].
pub fn tracking(c: &mut Call<'_>) -> Flow {
    match change(c) {
        Ok(()) => reply::simple(c.out, b"OK"),
        Err(text) => reply::error(c.out, text.as_bytes()),
    }
    Flow::Reply
}

fn change(c: &mut Call<'_>) -> Result<(), String> {
    let args = c.args;
    let mut options = Options::default();
    let mut j = 3;
    while j < args.len() {
        let option = args[j];
        let more = j + 1 < args.len();
        if option.eq_ignore_ascii_case(b"REDIRECT") && more {
            j += 1;
            if options.redirect != 0 {
                return Err("ERR A client can only redirect to a single other client".into());
            }
            let id = parse_i64(args[j])
                .ok_or_else(|| String::from_utf8_lossy(NOT_AN_INTEGER).into_owned())?;
            if id <= 0 || !c.resp.pubsub.tracking.exists(id as u64) {
                return Err("ERR The client ID you want redirect to does not exist".into());
            }
            options.redirect = id as u64;
        } else if option.eq_ignore_ascii_case(b"BCAST") {
            options.bcast = true;
        } else if option.eq_ignore_ascii_case(b"OPTIN") {
            options.optin = true;
        } else if option.eq_ignore_ascii_case(b"OPTOUT") {
            options.optout = true;
        } else if option.eq_ignore_ascii_case(b"NOLOOP") {
            options.noloop = true;
        } else if option.eq_ignore_ascii_case(b"PREFIX") && more {
            j += 1;
            options.prefixes.push(args[j].to_vec());
        } else {
            return Err(String::from_utf8_lossy(SYNTAX).into_owned());
        }
        j += 1;
    }
    let on = args[2].eq_ignore_ascii_case(b"ON");
    if !on && !args[2].eq_ignore_ascii_case(b"OFF") {
        return Err(String::from_utf8_lossy(SYNTAX).into_owned());
    }
    if !on {
        off(c);
        return Ok(());
    }
    check(c.session.tracking.as_ref().map(|t| &t.options), &options)?;
    let pubsub = c.resp.pubsub.clone();
    let own = c.session.subscriptions(&pubsub).mailbox().clone();
    let broken = c
        .session
        .tracking
        .as_ref()
        .map_or_else(|| Arc::new(AtomicBool::new(false)), |t| t.broken.clone());
    // Prefixes add to those already on; the rest of the options replace the old ones.
    let mut kept = options.clone();
    if let Some(old) = c.session.tracking.take() {
        kept.prefixes = old.options.prefixes.clone();
        for prefix in &options.prefixes {
            if !kept.prefixes.contains(prefix) {
                kept.prefixes.push(prefix.clone());
            }
        }
        // Dropping the old one turns tracking off for a moment; it is on again at once below.
        drop(old);
    }
    if kept.bcast && kept.prefixes.is_empty() {
        kept.prefixes.push(Vec::new());
    }
    let tracked = Tracked::enable(&pubsub, c.session.id, &own, kept, broken.clone());
    *c.session.client.tracking.borrow_mut() = Some(clients::Tracking {
        redirect: tracked.options.redirect,
        bcast: tracked.options.bcast,
        broken,
    });
    c.session.tracking = Some(tracked);
    Ok(())
}

/// Tracking off (CLIENT TRACKING off), as RESET does it too.
fn off(c: &mut Call<'_>) {
    c.session.tracking = None;
    c.session.caching = false;
    *c.session.client.tracking.borrow_mut() = None;
}

/// Redis's checks of new options against each other and against the ones in force.
fn check(current: Option<&Options>, new: &Options) -> Result<(), String> {
    if !new.bcast && !new.prefixes.is_empty() {
        return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
    }
    if current.is_some_and(|c| c.bcast != new.bcast) {
        return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".into());
    }
    if new.bcast && (new.optin || new.optout) {
        return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    if new.optin && new.optout {
        return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
    }
    if current.is_some_and(|c| (new.optin && c.optout) || (new.optout && c.optin)) {
        return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".into());
    }
    if new.bcast {
        let existing = current.map_or(&[][..], |c| &c.prefixes[..]);
        for (i, prefix) in new.prefixes.iter().enumerate() {
            let overlaps = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
            if let Some(old) = existing.iter().find(|old| overlaps(old, prefix)) {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    printable(prefix),
                    printable(old)
                ));
            }
            if let Some(other) = new.prefixes[i + 1..].iter().find(|o| overlaps(o, prefix)) {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    printable(prefix),
                    printable(other)
                ));
            }
        }
    }
    Ok(())
}

/// CLIENT CACHING yes|no: whether the next command's keys are remembered (OPTIN) or not (OPTOUT).
pub fn caching(c: &mut Call<'_>) -> Flow {
    let Some(tracked) = &c.session.tracking else {
        reply::error(c.out, b"ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        return Flow::Reply;
    };
    let answer = c.args[2];
    if answer.eq_ignore_ascii_case(b"YES") {
        if !tracked.options.optin {
            reply::error(
                c.out,
                b"ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
            return Flow::Reply;
        }
    } else if answer.eq_ignore_ascii_case(b"NO") {
        if !tracked.options.optout {
            reply::error(
                c.out,
                b"ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
            return Flow::Reply;
        }
    } else {
        reply::error(c.out, SYNTAX);
        return Flow::Reply;
    }
    c.session.caching = true;
    reply::simple(c.out, b"OK");
    Flow::Reply
}

/// CLIENT GETREDIR: the redirect's id, 0 for none, -1 when tracking is off.
pub fn getredir(c: &mut Call<'_>) -> Flow {
    let id = c
        .session
        .tracking
        .as_ref()
        .map_or(-1, |t| t.options.redirect as i64);
    reply::integer(c.out, id);
    Flow::Reply
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes, as Redis 7.0 answers.
pub fn trackinginfo(c: &mut Call<'_>) -> Flow {
    let tracked = c.session.tracking.as_ref();
    let mut flags: Vec<&[u8]> = vec![if tracked.is_some() { b"on" } else { b"off" }];
    if let Some(t) = tracked {
        let o = &t.options;
        let caching = c.session.caching;
        for (on, name) in [
            (o.bcast, &b"bcast"[..]),
            (o.optin, b"optin"),
            (o.optin && caching, b"caching-yes"),
            (o.optout, b"optout"),
            (o.optout && caching, b"caching-no"),
            (o.noloop, b"noloop"),
            (t.broken.load(Ordering::Relaxed), b"broken_redirect"),
        ] {
            if on {
                flags.push(name);
            }
        }
    }
    let protocol = c.session.protocol;
    let out = &mut *c.out;
    reply::map(out, protocol, 3);
    reply::bulk(out, b"flags");
    reply::set(out, protocol, flags.len());
    for flag in &flags {
        reply::bulk(out, flag);
    }
    reply::bulk(out, b"redirect");
    reply::integer(out, tracked.map_or(-1, |t| t.options.redirect as i64));
    reply::bulk(out, b"prefixes");
    let prefixes = c.resp.pubsub.tracking.prefixes(c.session.id);
    reply::array(out, prefixes.len());
    for prefix in &prefixes {
        reply::bulk(out, prefix);
    }
    Flow::Reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_as_redis_checks_them() {
        let bcast = |prefixes: &[&str]| Options {
            bcast: true,
            prefixes: prefixes.iter().map(|p| p.as_bytes().to_vec()).collect(),
            ..Options::default()
        };
        assert!(check(None, &bcast(&["a:", "b:"])).is_ok());
        assert!(check(None, &bcast(&["a", "ab"]))
            .unwrap_err()
            .contains("overlaps with another provided prefix 'ab'"));
        assert!(check(Some(&bcast(&["a"])), &bcast(&["abc"]))
            .unwrap_err()
            .contains("overlaps with an existing prefix 'a'"));
        let plain = Options {
            prefixes: vec![b"x".to_vec()],
            ..Options::default()
        };
        assert!(check(None, &plain).unwrap_err().contains("requires BCAST"));
        let both = Options {
            optin: true,
            optout: true,
            ..Options::default()
        };
        assert!(check(None, &both).unwrap_err().contains("both OPTIN"));
        assert!(check(Some(&Options::default()), &bcast(&[]))
            .unwrap_err()
            .contains("switch BCAST"));
    }
}
