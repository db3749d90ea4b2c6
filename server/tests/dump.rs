//! DUMP and RESTORE against redis-server 7.0: a payload dumped by either server restores into the other with
//! the same value, for every type in its compact and its large encoding, and RESTORE's options and refusals
//! answer as Redis's do.

mod support;

use std::time::Duration;

use pincore_testkit::{command, require};
use support::values::{bulk, digest, fill, Pair, KEYS};
use support::Client;

/// Redis's DUMP of each value restores into pincore-server as the value pincore-server holds from the same
/// commands, and pincore-server's DUMP of each restores into redis-server as redis-server's own value.
#[test]
fn dump_payloads_restore_across_redis_and_pincore() {
    require!(command("redis-server"));
    let (_servers, mut redis, mut ours) = Pair::start();
    fill(&mut redis);
    fill(&mut ours);
    let mut differences = Vec::new();
    for key in KEYS {
        let from_redis = bulk(&redis.call(&[b"DUMP", key.as_bytes()]));
        let from_pincore = bulk(&ours.call(&[b"DUMP", key.as_bytes()]));
        let restored = format!("restored:{key}");
        for (client, payload, who) in [
            (
                &mut ours,
                &from_redis,
                "pincore-server restoring redis-server's",
            ),
            (
                &mut redis,
                &from_pincore,
                "redis-server restoring pincore-server's",
            ),
        ] {
            let reply = client.call(&[b"RESTORE", restored.as_bytes(), b"0", payload]);
            if reply != b"+OK\r\n" {
                differences.push(format!(
                    "{who} {key}: {:?}",
                    String::from_utf8_lossy(&reply)
                ));
            } else if digest(client, key) != digest(client, &restored) {
                differences.push(format!("{who} {key}: a different value"));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// RESTORE's options and refusals, and OBJECT IDLETIME and FREQ after IDLETIME and FREQ, reply as Redis's.
#[test]
fn restore_options_and_refusals_reply_as_redis_does() {
    require!(command("redis-server"));
    let (_servers, mut redis, mut ours) = Pair::start();
    let mut differences = Vec::new();
    for c in [&mut redis, &mut ours] {
        c.call(&[b"SET", b"k", b"value"]);
    }
    // The same payload for both: redis-server's.
    let payload = bulk(&redis.call(&[b"DUMP", b"k"]));
    let mut corrupt = payload.clone();
    corrupt[3] ^= 1;
    let mut newer = payload.clone();
    let at = newer.len() - 10;
    newer[at] = 11;
    let far = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let steps: Vec<Vec<&[u8]>> = vec![
        vec![b"DUMP", b"missing"],
        vec![b"RESTORE", b"k", b"0", &payload],
        vec![b"RESTORE", b"k", b"0", &payload, b"REPLACE"],
        vec![b"GET", b"k"],
        vec![b"RESTORE", b"n", b"-1", &payload],
        vec![b"RESTORE", b"n", b"x", &payload],
        vec![b"RESTORE", b"n", b"0", &corrupt],
        vec![b"RESTORE", b"n", b"0", &newer],
        vec![b"RESTORE", b"n", b"0", b"short"],
        vec![b"RESTORE", b"n", b"0", &payload, b"BOGUS"],
        vec![b"RESTORE", b"n", b"0", &payload, b"IDLETIME", b"-1"],
        vec![b"RESTORE", b"n", b"0", &payload, b"IDLETIME", b"x"],
        vec![b"RESTORE", b"n", b"0", &payload, b"FREQ", b"256"],
        vec![
            b"RESTORE",
            b"n",
            b"0",
            &payload,
            b"FREQ",
            b"1",
            b"IDLETIME",
            b"1",
        ],
        vec![b"RESTORE", b"n", b"0", &payload, b"IDLETIME"],
        vec![b"EXISTS", b"n"],
        vec![b"RESTORE", b"ttl", b"100000", &payload],
        vec![b"RESTORE", b"abs", far.as_bytes(), &payload, b"ABSTTL"],
        vec![b"TTL", b"abs"],
        vec![b"RESTORE", b"k", b"1", &payload, b"ABSTTL", b"REPLACE"],
        vec![b"EXISTS", b"k"],
        vec![b"RESTORE", b"idle", b"0", &payload, b"IDLETIME", b"1000"],
        vec![b"OBJECT", b"IDLETIME", b"idle"],
        vec![b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"],
        vec![b"RESTORE", b"freq", b"0", &payload, b"FREQ", b"100"],
        vec![b"OBJECT", b"FREQ", b"freq"],
        vec![b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
    ];
    for step in &steps {
        let (a, b) = (redis.call(step), ours.call(step));
        let near = step[0] == b"TTL" && a.len() == b.len();
        if a != b && !near {
            differences.push(format!(
                "{}\n  redis:   {:?}\n  pincore: {:?}",
                String::from_utf8_lossy(&step.join(&b' ')[..step.join(&b' ').len().min(60)]),
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            ));
        }
    }
    let pttl = |c: &mut Client| String::from_utf8_lossy(&c.call(&[b"PTTL", b"ttl"])).into_owned();
    let ttl: i64 = pttl(&mut ours)
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("a PTTL");
    assert!(
        (99_000..=100_000).contains(&ttl),
        "PTTL after RESTORE ttl 100000: {ttl}"
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
