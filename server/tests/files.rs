//! The files service over real sockets: headers, keep-alive and pipelining, validators, ranges, refusals,
//! directories, a 1 MiB body byte for byte (sendfile, and read and written with `sendfile: false`), a file
//! truncated while it is sent, and files replaced, rewritten or removed between requests on one connection.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pincore_testkit::{command, require};
use support::Server;

/// One response as read off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }
}

/// Bytes read from a connection but not yet taken as a response.
struct Wire {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Wire {
    fn connect(addr: SocketAddr) -> Wire {
        let stream = TcpStream::connect(addr).expect("connect to files");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Wire {
            stream,
            pending: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send request");
    }

    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
        }
    }

    /// Reads the next response; `head_only` for HEAD (no body whatever Content-Length says).
    fn response(&mut self, head_only: bool) -> Response {
        let end = loop {
            if let Some(p) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            assert!(
                self.fill(),
                "closed before a full head: {:?}",
                String::from_utf8_lossy(&self.pending)
            );
        };
        let head = String::from_utf8(self.pending.drain(..end).collect()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = match headers.get("content-length") {
            Some(v) if !head_only => v.parse().unwrap(),
            _ => 0,
        };
        while self.pending.len() < length {
            assert!(self.fill(), "closed inside a body");
        }
        let body = self.pending.drain(..length).collect();
        Response {
            status,
            headers,
            body,
        }
    }

    /// True when the server closes the connection (within the read timeout) with nothing more sent.
    fn closed(&mut self) -> bool {
        self.pending.is_empty() && !self.fill()
    }
}

/// A one-request exchange on a fresh connection.
fn request(addr: SocketAddr, text: &str) -> Response {
    let mut wire = Wire::connect(addr);
    wire.send(text.as_bytes());
    wire.response(text.starts_with("HEAD "))
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> Response {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n"),
    )
}

/// Deterministic bytes that are not a repeating pattern of any short period.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A root with a small text file, 1 MiB of noise, a directory with an index, one without, and a symlink
/// to a file outside the root.
fn make_root(dir: &Path) -> Vec<u8> {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("small.txt"), b"hello, files\n").unwrap();
    std::fs::write(root.join("sub/index.html"), b"<p>sub</p>\n").unwrap();
    let big = noise(1 << 20);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(dir.join("secret.txt"), b"outside the root\n").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("link.txt")).unwrap();
    big
}

fn start(root: &Path) -> (Server, SocketAddr) {
    start_with(root, "")
}

/// Starts a server whose files settings are `root` and `more` (`, key: value` pairs).
fn start_with(root: &Path, more: &str) -> (Server, SocketAddr) {
    let config = format!(
        "services:\n  resp: {{listen: 127.0.0.1:0}}\n  echo: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\n  \
         files: {{listen: 127.0.0.1:0, settings: {{root: {}{more}}}}}\n\
         timeouts:\n  idle_ms: 10000\n  request_ms: 2000\nlog:\n  level: debug\n",
        root.display()
    );
    let server = Server::start_from(&config, &[]);
    let addr = server.address_of("files");
    (server, addr)
}

fn files_metric(server: &Server, series: &str) -> f64 {
    server.metric(&format!("{series}shard=\"total\"}}"))
}

#[test]
fn files_are_served_with_type_length_and_validators() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let (_server, addr) = start(&dir.path().join("root"));

    let r = get(addr, "/small.txt", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello, files\n");
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(r.header("content-length"), "13");
    assert_eq!(r.header("accept-ranges"), "bytes");
    assert!(r.header("etag").starts_with('"'), "{:?}", r.headers);
    assert!(r.header("last-modified").ends_with(" GMT"));

    let h = request(addr, "HEAD /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), "13");
    assert_eq!(h.header("etag"), r.header("etag"));

    let other = get(addr, "/big.bin", "");
    assert_eq!(other.header("content-type"), "application/octet-stream");
    assert_ne!(other.header("etag"), r.header("etag"));
}

#[test]
fn keep_alive_answers_pipelined_requests_in_order() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let (_server, addr) = start(&dir.path().join("root"));

    let mut wire = Wire::connect(addr);
    wire.send(
        b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\nHEAD /sub/ HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let first = wire.response(false);
    let second = wire.response(true);
    let third = wire.response(false);
    assert_eq!(
        (first.status, first.body.as_slice()),
        (200, &b"hello, files\n"[..])
    );
    assert_eq!(second.status, 200);
    assert_eq!(second.header("content-length"), "11");
    assert_eq!(
        (third.status, third.body.as_slice()),
        (200, &b"<p>sub</p>\n"[..])
    );
    assert_eq!(third.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(first.header("connection"), "keep-alive");

    // Connection: close is honoured after the response.
    wire.send(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(wire.response(false).status, 200);
    assert!(wire.closed());
}

#[test]
fn validators_give_not_modified() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let (_server, addr) = start(&dir.path().join("root"));

    let r = get(addr, "/small.txt", "");
    let etag = r.header("etag").to_string();
    let modified = r.header("last-modified").to_string();

    let by_tag = get(addr, "/small.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(by_tag.status, 304);
    assert!(by_tag.body.is_empty());
    assert_eq!(by_tag.header("etag"), etag);
    let other_tag = get(addr, "/small.txt", "If-None-Match: \"nope\"\r\n");
    assert_eq!(other_tag.status, 200);

    let by_date = get(
        addr,
        "/small.txt",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    assert_eq!(by_date.status, 304);
    let old = get(
        addr,
        "/small.txt",
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
    );
    assert_eq!((old.status, old.body.len()), (200, 13));
}

#[test]
fn single_ranges_are_partial_content() {
    let dir = tempfile::tempdir().unwrap();
    let big = make_root(dir.path());
    let (_server, addr) = start(&dir.path().join("root"));
    let size = big.len();

    let r = get(addr, "/big.bin", "Range: bytes=100-199\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), format!("bytes 100-199/{size}"));
    assert_eq!(r.body, &big[100..200]);

    let r = get(addr, "/big.bin", "Range: bytes=-10\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &big[size - 10..]);

    let r = get(addr, "/big.bin", &format!("Range: bytes={}-\r\n", size - 5));
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        format!("bytes {}-{}/{size}", size - 5, size - 1)
    );
    assert_eq!(r.body, &big[size - 5..]);

    let r = get(addr, "/big.bin", &format!("Range: bytes={size}-\r\n"));
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), format!("bytes */{size}"));

    let r = get(addr, "/small.txt", "Range: bytes=0-1,4-5\r\n");
    assert_eq!((r.status, r.body.len()), (200, 13));
}

#[test]
fn paths_outside_the_root_and_odd_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let (server, addr) = start(&dir.path().join("root"));

    for (path, status) in [
        ("/../secret.txt", 403),
        ("/../../../../etc/passwd", 403),
        ("/%2e%2e/secret.txt", 403),
        ("/sub/%2E%2E/%2e%2e/secret.txt", 403),
        ("/a%00b", 400),
        ("/sub%2findex.html", 400),
        ("/link.txt", 403),
        ("http://t/small.txt", 400),
        ("/missing.txt", 404),
    ] {
        let r = get(addr, path, "");
        assert_eq!(r.status, status, "{path}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("outside"),
            "{path}"
        );
    }
    let r = request(addr, "DELETE /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), "GET, HEAD");

    let long = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let mut wire = Wire::connect(addr);
    wire.send(long.as_bytes());
    assert_eq!(wire.response(false).status, 414);
    assert!(wire.closed());

    let many: String = (0..65).map(|i| format!("X-{i}: v\r\n")).collect();
    let r = request(addr, &format!("GET /small.txt HTTP/1.1\r\n{many}\r\n"));
    assert_eq!(r.status, 431);
    let big_header = format!(
        "GET /small.txt HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "v".repeat(17 << 10)
    );
    let mut wire = Wire::connect(addr);
    wire.send(big_header.as_bytes());
    assert_eq!(wire.response(false).status, 431);

    for (reason, at_least) in [
        ("traversal", 4.0),
        ("nul_byte", 1.0),
        ("encoded_slash", 1.0),
        ("symlink", 1.0),
        ("not_a_path", 1.0),
        ("uri_too_long", 1.0),
        ("headers_too_large", 2.0),
    ] {
        let counted = files_metric(
            &server,
            &format!("pincore_files_refused_total{{reason=\"{reason}\","),
        );
        assert!(counted >= at_least, "{reason}: {counted}");
    }
}

#[test]
fn directories_serve_their_index_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let (_server, addr) = start(&dir.path().join("root"));

    assert_eq!(get(addr, "/sub/", "").body, b"<p>sub</p>\n");
    assert_eq!(get(addr, "/sub", "").body, b"<p>sub</p>\n");
    let empty = get(addr, "/empty/", "");
    assert_eq!(empty.status, 404);
    assert!(!String::from_utf8_lossy(&empty.body).contains("index"));
    assert_eq!(get(addr, "/", "").status, 404);
}

#[test]
fn a_large_file_arrives_byte_for_byte_through_sendfile() {
    require!(command("curl"));
    let dir = tempfile::tempdir().unwrap();
    let big = make_root(dir.path());
    let (server, addr) = start(&dir.path().join("root"));

    let out = dir.path().join("fetched.bin");
    let status = Command::new("curl")
        .args(["-s", "-f", "-m", "20", "-o"])
        .arg(&out)
        .arg(format!("http://{addr}/big.bin"))
        .status()
        .expect("run curl");
    assert!(status.success(), "curl failed: {status}");
    let fetched = std::fs::read(&out).unwrap();
    assert_eq!(fetched.len(), big.len());
    assert!(fetched == big, "the body differs from the file");

    assert_eq!(
        files_metric(
            &server,
            "pincore_files_fallback_total{reason=\"sendfile_refused\","
        ),
        0.0
    );
    assert!(files_metric(&server, "pincore_files_responses_total{status=\"200\",") >= 1.0);
}

#[test]
fn with_sendfile_off_bodies_are_read_and_written_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let big = make_root(dir.path());
    let (server, addr) = start_with(&dir.path().join("root"), ", sendfile: false");

    let mut wire = Wire::connect(addr);
    wire.send(
        b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let r = wire.response(false);
    assert_eq!(r.status, 200);
    assert!(r.body == big, "the body differs from the file");
    assert_eq!(wire.response(false).body, b"hello, files\n");
    assert_eq!(
        files_metric(
            &server,
            "pincore_files_fallback_total{reason=\"configured\","
        ),
        2.0
    );
}

/// Every request on one connection (one shard, so the shard's cache of open files answers the repeats)
/// sees the file as it is now: replaced by a rename, rewritten in place, replaced by a symlink, removed.
#[test]
fn a_changed_file_is_served_as_it_is_now_on_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let root = dir.path().join("root");
    let (_server, addr) = start(&root);
    let mut wire = Wire::connect(addr);
    let mut fetch = |path: &str| {
        wire.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        wire.response(false)
    };
    let first = fetch("/small.txt");
    assert_eq!(fetch("/small.txt").header("etag"), first.header("etag"));

    std::fs::write(root.join("next.txt"), b"renamed over it\n").unwrap();
    std::fs::rename(root.join("next.txt"), root.join("small.txt")).unwrap();
    let renamed = fetch("/small.txt");
    assert_eq!(renamed.body, b"renamed over it\n");
    assert_eq!(renamed.header("content-length"), "16");
    assert_ne!(renamed.header("etag"), first.header("etag"));

    // Same inode, new length and content.
    std::fs::write(root.join("small.txt"), b"rewritten in place, longer\n").unwrap();
    let rewritten = fetch("/small.txt");
    assert_eq!(rewritten.body, b"rewritten in place, longer\n");
    assert_ne!(rewritten.header("etag"), renamed.header("etag"));

    std::fs::remove_file(root.join("small.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("small.txt")).unwrap();
    assert_eq!(fetch("/small.txt").status, 403);

    std::fs::remove_file(root.join("small.txt")).unwrap();
    assert_eq!(fetch("/small.txt").status, 404);
    std::fs::write(root.join("small.txt"), b"back\n").unwrap();
    assert_eq!(fetch("/small.txt").body, b"back\n");
}

#[test]
fn a_file_truncated_while_it_is_sent_ends_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let root = dir.path().join("root");
    let original = 64usize << 20;
    let file = std::fs::File::create(root.join("shrinking.bin")).unwrap();
    file.set_len(original as u64).unwrap();
    let (server, addr) = start(&root);

    let mut wire = Wire::connect(addr);
    wire.send(b"GET /shrinking.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    // Read the head and a little of the body, slowly, so most of the file is still unsent.
    while !wire.pending.windows(4).any(|w| w == b"\r\n\r\n") {
        assert!(wire.fill(), "no head");
    }
    let head_end = wire
        .pending
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4;
    let head = String::from_utf8_lossy(&wire.pending[..head_end]).to_string();
    assert!(
        head.contains(&format!("Content-Length: {original}")),
        "{head}"
    );
    std::thread::sleep(Duration::from_millis(200));
    file.set_len(1 << 20).unwrap();

    let mut body = wire.pending.len() - head_end;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        assert!(Instant::now() < deadline, "the connection was not closed");
        match wire.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => body += n,
            Err(e) => panic!("read failed before end of input: {e}"),
        }
    }
    assert!(body < original, "got {body} bytes of a file cut to 1 MiB");
    let deadline = Instant::now() + Duration::from_secs(5);
    while files_metric(&server, "pincore_files_truncated_total{") < 1.0 {
        assert!(Instant::now() < deadline, "truncation not counted");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_opens_the_new_root_on_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let (server, addr) = start(&dir.path().join("root"));
    assert_eq!(get(addr, "/small.txt", "").body, b"hello, files\n");

    let next = dir.path().join("next");
    std::fs::create_dir(&next).unwrap();
    std::fs::write(next.join("small.txt"), b"the next release\n").unwrap();
    let text = std::fs::read_to_string(&server.config_path).unwrap();
    let root = dir.path().join("root").display().to_string();
    std::fs::write(
        &server.config_path,
        text.replace(&root, &next.display().to_string()),
    )
    .unwrap();
    server.process.signal(libc::SIGHUP);

    let deadline = Instant::now() + Duration::from_secs(10);
    while get(addr, "/small.txt", "").body != b"the next release\n" {
        assert!(
            Instant::now() < deadline,
            "the new root is not served\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Several connections, so both shards answer from the new root.
    for _ in 0..8 {
        assert_eq!(get(addr, "/small.txt", "").body, b"the next release\n");
        assert_eq!(get(addr, "/big.bin", "").status, 404);
    }
}

#[test]
fn clients_that_never_read_cost_the_server_no_memory_per_byte() {
    let dir = tempfile::tempdir().unwrap();
    make_root(dir.path());
    let root = dir.path().join("root");
    std::fs::write(root.join("ten.bin"), noise(10 << 20)).unwrap();
    let (server, addr) = start(&root);
    assert_eq!(get(addr, "/small.txt", "").status, 200);
    let before = server.rss_kib();

    // 16 clients each ask for the 10 MiB file 8 times over, pipelined, and read nothing: 1.25 GiB wanted.
    let request = "GET /ten.bin HTTP/1.1\r\nHost: t\r\n\r\n".repeat(8);
    let idle: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let after = server.rss_kib();
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // The shard still serves others meanwhile.
    assert_eq!(get(addr, "/small.txt", "").body, b"hello, files\n");
    drop(idle);
}
