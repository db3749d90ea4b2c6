//! MONITOR: every command a shard runs, as one line to each monitoring connection, in Redis's format:
//! `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`.
//!
//! A command is fed once it has run (so EXEC comes after the commands it ran, as in Redis 7.0); commands
//! refused before running (unknown, wrong arity, NOAUTH, `-OOM`) and admin commands (CONFIG, DEBUG, MONITOR)
//! are not. AUTH's arguments, HELLO's after AUTH and MIGRATE's AUTH and AUTH2 ones are shown as `(redacted)`. The lines travel through the
//! monitoring connections' pub/sub mailboxes ([`super::pubsub`]), bounded like a subscriber's; with no
//! monitor, feeding costs one relaxed atomic load.

use std::fmt::Write;

use super::clients::Client;
use super::commands::{flag, Spec};
use super::pubsub::PubSub;

/// Feeds the command `spec` ran with `args` (the name first) from `client` to the monitors, if any.
#[inline]
pub fn feed(pubsub: &PubSub, client: &Client, spec: &Spec, args: &[&[u8]]) {
    if pubsub.monitored() && spec.flags & flag::ADMIN == 0 {
        feed_line(pubsub, client, args);
    }
}

#[cold]
fn feed_line(pubsub: &PubSub, client: &Client, args: &[&[u8]]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let peer = client
        .addr()
        .map_or_else(|| "?:0".to_string(), |a| a.to_string());
    pubsub.feed_monitors(&line(now, &peer, args));
}

/// One monitor line: a status reply with the time, the database and the client, then each argument quoted.
fn line(since_epoch: std::time::Duration, peer: &str, args: &[&[u8]]) -> Vec<u8> {
    let mut text = format!(
        "+{}.{:06} [0 {peer}]",
        since_epoch.as_secs(),
        since_epoch.subsec_micros()
    );
    let redacted = redacted_from(args);
    for (i, arg) in args.iter().enumerate() {
        text.push(' ');
        if redacted.contains(&i) {
            text.push_str("\"(redacted)\"");
        } else {
            quote(&mut text, arg);
        }
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// The positions of the arguments Redis hides from monitors: AUTH's, the user and password after
/// HELLO's AUTH, and MIGRATE's AUTH password and AUTH2 user and password.
fn redacted_from(args: &[&[u8]]) -> Vec<usize> {
    let name = args[0];
    if name.eq_ignore_ascii_case(b"auth") {
        return (1..args.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"hello") {
        if let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
            return (at + 1..(at + 3).min(args.len())).collect();
        }
    }
    if name.eq_ignore_ascii_case(b"migrate") {
        return super::migrate::secret_positions(args);
    }
    Vec::new()
}

/// Redis's `sdscatrepr`: in double quotes, with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b` and `\xHH` for
/// anything else that is not printable ASCII.
fn quote(text: &mut String, bytes: &[u8]) {
    text.push('"');
    for &b in bytes {
        match b {
            b'\\' | b'"' => {
                text.push('\\');
                text.push(b as char);
            }
            b'\n' => text.push_str("\\n"),
            b'\r' => text.push_str("\\r"),
            b'\t' => text.push_str("\\t"),
            0x07 => text.push_str("\\a"),
            0x08 => text.push_str("\\b"),
            0x20..=0x7e => text.push(b as char),
            _ => {
                let _ = write!(text, "\\x{b:02x}");
            }
        }
    }
    text.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_redis_monitor_line() {
        let at = std::time::Duration::new(1339518083, 107_412_000);
        let line = line(at, "127.0.0.1:60866", &[b"keys", b"*"]);
        assert_eq!(
            line,
            b"+1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\"\r\n"
        );
        let line = super::line(
            at,
            "[::1]:1",
            &[b"set", b"a\"b\\", b"\r\n\t\x07\x08\x00\xff "],
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "+1339518083.107412 [0 [::1]:1] \"set\" \"a\\\"b\\\\\" \"\\r\\n\\t\\a\\b\\x00\\xff \"\r\n"
        );
    }

    #[test]
    fn secrets_are_redacted_as_redis_redacts_them() {
        let at = std::time::Duration::new(1, 0);
        let text = |args: &[&[u8]]| String::from_utf8(line(at, "p", args)).unwrap();
        assert!(text(&[b"AUTH", b"user", b"pw"])
            .ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"));
        assert!(
            text(&[b"hello", b"2", b"auth", b"u", b"p", b"setname", b"n"]).ends_with(
                "\"hello\" \"2\" \"auth\" \"(redacted)\" \"(redacted)\" \"setname\" \"n\"\r\n"
            )
        );
        assert!(text(&[b"hello", b"3"]).ends_with("\"hello\" \"3\"\r\n"));
        assert!(text(&[b"get", b"auth"]).ends_with("\"get\" \"auth\"\r\n"));
        assert!(
            text(&[b"migrate", b"h", b"1", b"k", b"9", b"5000", b"AUTH2", b"u", b"p"])
                .ends_with("\"5000\" \"AUTH2\" \"(redacted)\" \"(redacted)\"\r\n")
        );
    }
}
