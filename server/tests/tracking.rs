//! CLIENT TRACKING (client-side caching) on the wire: RESP2 invalidations on `__redis__:invalidate` of
//! the connection a tracker redirects to, RESP3 pushes on the tracker itself, for keys written from other
//! connections (so, with two shards, from other shards), expired, evicted and flushed; BCAST prefixes; NOLOOP; the
//! table bound; CLIENT LIST's flags; RESET and tracking off.

mod support;

use std::time::{Duration, Instant};

use support::{Client, Server};

/// The next pushed message on `client`, as text (a reply read within the client's 15 s read timeout).
fn next(client: &mut Client) -> String {
    String::from_utf8_lossy(&client.receive(1, &[b"(an invalidation)"])).into_owned()
}

/// The invalidation message a RESP2 redirect target gets for `keys`.
fn message(keys: &[&str]) -> String {
    let mut text = format!(
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*{}\r\n",
        keys.len()
    );
    for key in keys {
        text.push_str(&format!("${}\r\n{key}\r\n", key.len()));
    }
    text
}

fn id_of(c: &mut Client) -> String {
    c.line("CLIENT ID")
        .trim_start_matches(':')
        .trim()
        .to_string()
}

/// A redirect target subscribed to `__redis__:invalidate`, its id, and a tracker redirecting to it.
fn redirected(server: &Server, options: &str) -> (Client, String, Client) {
    let mut target = Client::connect(server.resp);
    let id = id_of(&mut target);
    target.line("SUBSCRIBE __redis__:invalidate");
    let mut tracker = Client::connect(server.resp);
    assert_eq!(
        tracker.line(&format!("CLIENT TRACKING on REDIRECT {id}{options}")),
        "+OK\r\n"
    );
    (target, id, tracker)
}

#[test]
fn resp2_redirect_gets_invalidations_for_keys_written_anywhere() {
    let server = Server::start();
    let (mut target, id, mut tracker) = redirected(&server, "");
    let mut writer = Client::connect(server.resp);
    // Many keys, so that they fall in many keyspace parts, written and swept by both shards.
    for i in 0..20 {
        writer.line(&format!("SET k{i} v"));
        tracker.line(&format!("GET k{i}"));
    }
    writer.line("SET unread v");
    for i in 0..20 {
        writer.line(&format!("APPEND k{i} x"));
        assert_eq!(next(&mut target), message(&[&format!("k{i}")]));
    }
    // A TTL set and the key's expiry (by the sweep: nobody reads it) are writes too.
    tracker.line("GET k0");
    writer.line("PEXPIRE k0 30");
    assert_eq!(next(&mut target), message(&["k0"]));
    tracker.line("GET k0");
    assert_eq!(next(&mut target), message(&["k0"]), "expired by the sweep");
    // FLUSHALL: a null instead of keys.
    tracker.line("GET k1");
    writer.line("FLUSHALL");
    assert_eq!(
        next(&mut target),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
    );
    let info = tracker.line("CLIENT INFO");
    assert!(
        info.contains(" flags=t ") && info.contains(&format!(" redir={id} ")),
        "{info}"
    );
    assert_eq!(tracker.line("CLIENT GETREDIR"), format!(":{id}\r\n"));
    // Off: nothing more is sent.
    assert_eq!(tracker.line("CLIENT TRACKING off"), "+OK\r\n");
    assert!(tracker.line("CLIENT INFO").contains(" flags=N "));
    tracker.line("GET k2");
    writer.line("SET k2 v");
    // RESET ends tracking too.
    assert_eq!(
        tracker.line(&format!("CLIENT TRACKING on REDIRECT {id}")),
        "+OK\r\n"
    );
    assert_eq!(tracker.line("RESET"), "+RESET\r\n");
    let info = tracker.line("CLIENT INFO");
    assert!(
        info.contains(" flags=N ") && info.contains(" redir=-1 "),
        "{info}"
    );
    tracker.line("GET k3");
    writer.line("SET k3 v");
    // Only the reply to PING arrives: no invalidation was queued before it.
    assert_eq!(target.line("PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    server.assert_healthy();
}

#[test]
fn resp3_tracker_gets_pushes_and_noloop_skips_its_own_writes() {
    let server = Server::start();
    let mut tracker = Client::connect(server.resp);
    tracker.line("HELLO 3");
    assert_eq!(tracker.line("CLIENT TRACKING on NOLOOP"), "+OK\r\n");
    let mut writer = Client::connect(server.resp);
    writer.line("SET a 1");
    writer.line("SET b 1");
    tracker.line("MGET a b");
    // Its own write: no push (NOLOOP); another connection's: a push.
    assert_eq!(tracker.line("SET a 2"), "+OK\r\n");
    writer.line("SET b 2");
    assert_eq!(
        next(&mut tracker),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nb\r\n"
    );
    assert_eq!(tracker.line("PING"), "+PONG\r\n");
    server.assert_healthy();
}

#[test]
fn bcast_sends_every_key_under_a_prefix_once_per_command() {
    let server = Server::start();
    let (mut target, _, mut tracker) = redirected(&server, " BCAST PREFIX a: PREFIX b:");
    let info = tracker.line("CLIENT INFO");
    assert!(info.contains(" flags=tB "), "{info}");
    assert!(tracker
        .line("CLIENT TRACKING on BCAST PREFIX a")
        .starts_with("-ERR Prefix 'a' overlaps with an existing prefix 'a:'"));
    let mut writer = Client::connect(server.resp);
    writer.line("MSET a:1 x a:2 x c:1 x");
    let got = next(&mut target);
    assert!(
        got == message(&["a:1", "a:2"]) || got == message(&["a:2", "a:1"]),
        "{got}"
    );
    writer.line("SET b:1 x");
    assert_eq!(next(&mut target), message(&["b:1"]));
    server.assert_healthy();
}

#[test]
fn a_full_table_forgets_keys_and_tells_their_trackers() {
    let server = Server::start();
    let (mut target, _, mut tracker) = redirected(&server, "");
    let mut writer = Client::connect(server.resp);
    for i in 0..10 {
        writer.line(&format!("SET t{i} v"));
        tracker.line(&format!("GET t{i}"));
    }
    assert_eq!(
        writer.line("CONFIG SET tracking-table-max-keys 4"),
        "+OK\r\n"
    );
    let started = Instant::now();
    let mut told = Vec::new();
    for _ in 0..6 {
        told.push(next(&mut target));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        told.iter().all(|m| m.contains("__redis__:invalidate")),
        "{told:?}"
    );
    let info = writer.line("INFO stats");
    assert!(info.contains("tracking_total_keys:4\r\n"), "{info}");
    assert_eq!(
        writer.line("CONFIG GET tracking-table-max-keys"),
        "*2\r\n$23\r\ntracking-table-max-keys\r\n$1\r\n4\r\n"
    );
    server.assert_healthy();
}

#[test]
fn tracking_options_are_refused_as_redis_refuses_them() {
    let server = Server::start();
    let mut c = Client::connect(server.resp);
    for (command, reply) in [
        ("CLIENT TRACKING on REDIRECT 999999", "-ERR The client ID you want redirect to does not exist\r\n"),
        ("CLIENT TRACKING on PREFIX a", "-ERR PREFIX option requires BCAST mode to be enabled\r\n"),
        ("CLIENT TRACKING on OPTIN OPTOUT", "-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n"),
        ("CLIENT TRACKING on BCAST OPTIN", "-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n"),
        ("CLIENT TRACKING maybe", "-ERR syntax error\r\n"),
        ("CLIENT CACHING yes", "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n"),
        ("CLIENT GETREDIR", ":-1\r\n"),
        ("CLIENT TRACKING on OPTIN", "+OK\r\n"),
        ("CLIENT CACHING no", "-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n"),
        ("CLIENT CACHING yes", "+OK\r\n"),
        ("CLIENT GETREDIR", ":0\r\n"),
    ] {
        assert_eq!(c.line(command), reply, "{command}");
    }
    let info = c.line("CLIENT TRACKINGINFO");
    assert!(info.contains("$2\r\non\r\n$5\r\noptin\r\n"), "{info}");
    server.assert_healthy();
}

#[test]
fn an_evicted_key_is_invalidated() {
    let server = Server::start();
    let (mut target, _, mut tracker) = redirected(&server, "");
    let mut writer = Client::connect(server.resp);
    writer.line("SET evictable v");
    tracker.line("GET evictable");
    assert_eq!(
        writer.line("CONFIG SET maxmemory-policy allkeys-random"),
        "+OK\r\n"
    );
    // Below what the one key costs: lowering maxmemory evicts at once.
    assert_eq!(writer.line("CONFIG SET maxmemory 1"), "+OK\r\n");
    assert_eq!(next(&mut target), message(&["evictable"]));
    assert_eq!(writer.line("EXISTS evictable"), ":0\r\n");
    writer.line("CONFIG SET maxmemory 0");
    server.assert_healthy();
}
