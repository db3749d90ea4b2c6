//! Blocking pops over real connections: clients blocked on one key are served in the order they blocked,
//! whichever connection (and shard: the server runs one per CPU) pushes; a blocked client holds up no other
//! connection; one that hangs up is never handed an element; and timeouts answer with a null.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{read_at_least, Client, Server};

fn send(stream: &mut TcpStream, line: &str) {
    stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
}

/// Long enough for a command sent on another connection to have been read and to block.
const SETTLE: Duration = Duration::from_millis(150);

#[test]
fn clients_blocked_on_a_key_are_served_in_arrival_order() {
    let s = Server::start();
    let mut blocked: Vec<TcpStream> = (0..4).map(|_| s.connect()).collect();
    for stream in &mut blocked {
        send(stream, "BLPOP queue 5");
        sleep(SETTLE);
    }
    assert_eq!(s.cli(&["RPUSH", "queue", "a", "b", "c", "d"]), "4");
    for (stream, element) in blocked.iter_mut().zip(["a", "b", "c", "d"]) {
        let expected = format!("*2\r\n$5\r\nqueue\r\n$1\r\n{element}\r\n");
        let reply = read_at_least(stream, expected.len());
        assert_eq!(String::from_utf8_lossy(&reply), expected);
    }
    assert_eq!(s.cli(&["EXISTS", "queue"]), "0");
    s.assert_healthy();
}

#[test]
fn a_blocked_client_holds_up_no_one_and_one_that_hung_up_gets_nothing() {
    let s = Server::start();
    let mut gone = s.connect();
    send(&mut gone, "BLPOP jobs 0");
    sleep(SETTLE);
    drop(gone);
    let mut waiting: Vec<TcpStream> = (0..3).map(|_| s.connect()).collect();
    for stream in &mut waiting {
        send(stream, "BZPOPMIN board 0");
        sleep(SETTLE);
    }
    // Every shard still answers at once while clients wait.
    for _ in 0..10 {
        assert_eq!(s.cli(&["PING"]), "PONG");
    }
    assert_eq!(s.cli(&["LPUSH", "jobs", "j1"]), "1");
    sleep(SETTLE);
    assert_eq!(
        s.cli(&["LRANGE", "jobs", "0", "-1"]),
        "j1",
        "the element is left for whoever asks next"
    );
    assert_eq!(s.cli(&["ZADD", "board", "2", "b", "1", "a", "3", "c"]), "3");
    let mut got = Vec::new();
    for stream in &mut waiting {
        got.push(String::from_utf8_lossy(&read_at_least(stream, 22)).into_owned());
    }
    assert_eq!(
        got,
        [
            "*3\r\n$5\r\nboard\r\n$1\r\na\r\n$1\r\n1\r\n",
            "*3\r\n$5\r\nboard\r\n$1\r\nb\r\n$1\r\n2\r\n",
            "*3\r\n$5\r\nboard\r\n$1\r\nc\r\n$1\r\n3\r\n"
        ]
    );
    s.assert_healthy();
}

#[test]
fn a_timeout_answers_null_and_commands_after_it_wait_their_turn() {
    let s = Server::start();
    let mut stream = s.connect();
    let started = Instant::now();
    stream
        .write_all(b"BRPOP nothing 0.2\r\nPING\r\nBLMOVE nothing dst LEFT RIGHT 0.1\r\n")
        .unwrap();
    let reply = read_at_least(&mut stream, 17);
    assert_eq!(String::from_utf8_lossy(&reply), "*-1\r\n+PONG\r\n*-1\r\n");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    s.assert_healthy();
}

/// CPU seconds (user + system) the process `pid` has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The fields after the command name (which may hold spaces) start after its closing parenthesis.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat has a command name")
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Blocked clients sleep until a key they wait on changes: a hundred of them idle cost the server next to no
/// CPU (each one polling its key every 2 ms would be 50,000 wake-ups a second), and a push still reaches the
/// first one at once.
#[test]
fn idle_blocked_clients_cost_no_cpu_and_a_push_wakes_one_at_once() {
    let s = Server::start();
    let mut blocked: Vec<TcpStream> = (0..100).map(|_| s.connect()).collect();
    // The first client blocks alone first, so that it is the first in arrival order whichever shard each
    // connection landed on (the others' BLPOPs could otherwise reach their shard before its own).
    send(&mut blocked[0], "BLPOP idle 0");
    let deadline = Instant::now() + Duration::from_secs(10);
    let blocked_now = || {
        s.cli(&["INFO", "clients"]).lines().find_map(|l| {
            l.trim()
                .strip_prefix("blocked_clients:")?
                .parse::<u32>()
                .ok()
        })
    };
    while blocked_now() != Some(1) {
        assert!(Instant::now() < deadline, "the first client never blocked");
        sleep(SETTLE);
    }
    for stream in &mut blocked[1..] {
        send(stream, "BLPOP idle 0");
    }
    sleep(SETTLE * 4);
    let info = s.cli(&["INFO", "clients"]);
    assert!(info.contains("blocked_clients:100"), "{info}");
    let pid = s.process.0.id();
    let before = cpu_seconds(pid);
    let window = Duration::from_secs(2);
    sleep(window);
    let used = cpu_seconds(pid) - before;
    assert!(
        used < 0.1,
        "{used:.3} CPU seconds in {window:?} with 100 clients blocked and nothing happening"
    );
    let pushed = Instant::now();
    assert_eq!(s.cli(&["RPUSH", "idle", "x"]), "1");
    let expected = "*2\r\n$4\r\nidle\r\n$1\r\nx\r\n";
    let reply = read_at_least(&mut blocked[0], expected.len());
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    assert!(
        pushed.elapsed() < Duration::from_secs(2),
        "{:?}",
        pushed.elapsed()
    );
    drop(blocked);
    let unblocked = (0..50).any(|_| {
        sleep(Duration::from_millis(20));
        s.cli(&["INFO", "clients"]).contains("blocked_clients:0")
    });
    assert!(
        unblocked,
        "clients that hung up are no longer counted as blocked"
    );
    s.assert_healthy();
}

/// A blocked pop, once served, notifies as Redis's do: the pop's event, then `del` when it emptied the key,
/// for BLPOP, BLMOVE (its push too), BLMPOP and BZMPOP alike. A subscriber may see them before or after the
/// waking push's own, as the served client runs on its own shard.
#[test]
fn served_blocked_pops_notify_their_pops() {
    let s = Server::start();
    let mut subscriber = Client::connect(s.resp);
    subscriber.call(&[b"PSUBSCRIBE", b"__keyevent@0__:*"]);
    assert_eq!(
        s.cli(&["CONFIG", "SET", "notify-keyspace-events", "Elgz"]),
        "OK"
    );
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "BLPOP q 5",
            &["RPUSH", "q", "a"],
            &["rpush q", "lpop q", "del q"],
        ),
        (
            "BLMOVE q dst RIGHT LEFT 5",
            &["RPUSH", "q", "a", "b"],
            &["rpush q", "rpop q", "lpush dst"],
        ),
        (
            "BLMPOP 5 2 none q2 RIGHT COUNT 3",
            &["LPUSH", "q2", "a", "b"],
            &["lpush q2", "rpop q2", "del q2"],
        ),
        (
            "BZMPOP 5 1 z MAX COUNT 1",
            &["ZADD", "z", "1", "a", "2", "b"],
            &["zadd z", "zpopmax z"],
        ),
    ];
    for (blocking, push, events) in cases {
        let mut waiter = s.connect();
        send(&mut waiter, blocking);
        sleep(SETTLE);
        s.cli(push);
        let reply = read_at_least(&mut waiter, 1);
        assert!(
            matches!(reply.first(), Some(b'*' | b'$')) && !reply.starts_with(b"*-1"),
            "{blocking} was served: {:?}",
            String::from_utf8_lossy(&reply)
        );
        let mut got: Vec<String> = (0..events.len())
            .map(|_| {
                let message = subscriber.receive(1, &[b"(a notification)"]);
                // *4 pmessage pattern channel key: the event is the channel's tail, the key the payload.
                let text = String::from_utf8_lossy(&message).into_owned();
                let parts: Vec<&str> = text.split("\r\n").collect();
                let event = parts[6].trim_start_matches("__keyevent@0__:");
                format!("{event} {}", parts[8])
            })
            .collect();
        got.sort();
        let mut want: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{blocking}");
    }
    s.assert_healthy();
}

/// The connection's id, asked on the connection itself.
fn client_id(stream: &mut TcpStream) -> String {
    send(stream, "CLIENT ID");
    let reply = String::from_utf8_lossy(&read_at_least(stream, 4)).into_owned();
    reply.trim_start_matches(':').trim_end().to_string()
}

#[test]
fn client_unblock_ends_a_wait_with_the_timeout_reply_or_an_error() {
    let s = Server::start();
    let mut list_pop = s.connect();
    let mut zset_pop = s.connect();
    let (list_id, zset_id) = (client_id(&mut list_pop), client_id(&mut zset_pop));
    send(&mut list_pop, "BLPOP jobs 0");
    send(&mut zset_pop, "BZPOPMIN board 0");
    sleep(SETTLE);
    assert_eq!(s.cli(&["CLIENT", "UNBLOCK", &list_id]), "1");
    assert_eq!(
        String::from_utf8_lossy(&read_at_least(&mut list_pop, 5)),
        "*-1\r\n"
    );
    assert_eq!(s.cli(&["CLIENT", "UNBLOCK", &zset_id, "ERROR"]), "1");
    let expected = "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n";
    let reply = read_at_least(&mut zset_pop, expected.len());
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    // No longer waiting: nothing to end, and a push is left for whoever asks.
    assert_eq!(s.cli(&["CLIENT", "UNBLOCK", &list_id, "TIMEOUT"]), "0");
    assert_eq!(s.cli(&["CLIENT", "UNBLOCK", "999999"]), "0");
    assert_eq!(s.cli(&["LPUSH", "jobs", "j1"]), "1");
    sleep(SETTLE);
    assert_eq!(s.cli(&["LLEN", "jobs"]), "1");
    send(&mut list_pop, "PING");
    assert_eq!(
        String::from_utf8_lossy(&read_at_least(&mut list_pop, 7)),
        "+PONG\r\n"
    );
    assert_eq!(
        s.cli(&["CLIENT", "UNBLOCK", &list_id, "LATER"]),
        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
    );
    assert_eq!(
        s.cli(&["CLIENT", "UNBLOCK", "x"]),
        "ERR value is not an integer or out of range"
    );
    s.assert_healthy();
}
