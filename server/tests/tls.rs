//! TLS on every service, by configuration: real clients (redis-cli, redis-py, redis-benchmark, curl) against
//! certificates the test makes, refusals (another authority, an expired certificate, mutual TLS without a
//! client certificate), certificate reload on SIGHUP, a bad reload, stalled handshakes, and bad files at
//! start-up.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pincore_testkit::{command, require, KillOnDrop};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use support::{redis_py, Server};

/// Timeouts long enough for handshakes on a machine busy with other builds.
const TIMEOUTS: &str = "timeouts:\n  idle_ms: 10000\n  request_ms: 5000\n  drain_ms: 2000\n";

/// A certificate authority made for one test.
struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM text.
struct Issued {
    cert: String,
    key: String,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Authority { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `localhost` and 127.0.0.1; `expired` makes one that ended in 2021.
    fn server(&self, expired: bool) -> Issued {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        self.issue(params)
    }

    /// A client certificate, for mutual TLS.
    fn client(&self) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "scraper");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> Issued {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// The files of one test: an authority's certificate, and the server's certificate and key.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` by rename, as a deployment replaces a certificate.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        let next = self.path(&format!(".{name}.new"));
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, &path).unwrap();
        path
    }

    /// Writes `issued` as `NAME.pem` and `NAME.key`.
    fn write_issued(&self, name: &str, issued: &Issued) -> (PathBuf, PathBuf) {
        (
            self.write(&format!("{name}.pem"), &issued.cert),
            self.write(&format!("{name}.key"), &issued.key),
        )
    }

    /// The `tls:` value naming `NAME.pem` and `NAME.key`.
    fn tls(&self, name: &str) -> String {
        format!(
            "{{cert: {}, key: {}}}",
            self.path(&format!("{name}.pem")).display(),
            self.path(&format!("{name}.key")).display()
        )
    }
}

/// A configuration with resp, echo and admin on port 0; `resp`, `echo`, `admin` are extra keys of each
/// section (such as `, tls: {...}`), `rest` more top-level text.
fn config(resp: &str, echo: &str, admin: &str, rest: &str) -> String {
    format!(
        "services:\n  resp: {{listen: 127.0.0.1:0{resp}}}\n  echo: {{listen: 127.0.0.1:0{echo}}}\n  \
         admin: {{listen: 127.0.0.1:0{admin}}}\n{rest}{TIMEOUTS}log:\n  level: debug\n"
    )
}

/// A TLS client trusting `ca` (PEM), presenting `identity` when given.
#[allow(deprecated)] // ring, as the server uses it (see server/src/tls.rs)
fn client_config(ca: &str, identity: Option<&Issued>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(issued) => {
            let certs = CertificateDer::pem_slice_iter(issued.cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(issued.key.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    };
    Arc::new(config)
}

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects from the local address `from` to `to` and completes a handshake trusting `ca`.
fn tls_connect(from: [u8; 4], to: SocketAddr, ca: &str) -> std::io::Result<TlsStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(2))?;
    let mut tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(client_config(ca, None), name)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Sends an inline PING and reads the reply line.
fn ping(stream: &mut TlsStream) -> String {
    stream.write_all(b"PING\r\n").unwrap();
    stream.flush().unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => reply.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

/// `redis-cli --tls --cacert CA -p PORT args...`.
fn redis_cli(s: &Server, ca: &Path, args: &[&str]) -> Output {
    Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(ca)
        .args(["-h", "127.0.0.1", "-p", &s.resp.port().to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `curl` over HTTPS trusting `ca`, with `extra` arguments: (status, body); status 0 when no response came.
fn curl(url: &str, ca: &Path, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}", "--cacert"])
        .arg(ca)
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A handshake counter of `service`, over every shard.
fn handshakes(s: &Server, service: &str, result: &str) -> f64 {
    s.metric(&format!(
        "pincore_tls_handshakes_total{{service=\"{service}\",result=\"{result}\",shard=\"total\"}}"
    ))
}

/// Waits (at most 5 s) until `read` reaches `at_least`, and returns its last value.
fn eventually(at_least: f64, read: impl Fn() -> f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let value = read();
        if value >= at_least || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGHUP and waits (at most 10 s) until the log has one more line containing `outcome`.
fn reload(s: &Server, outcome: &str) {
    let before = s.log().matches(outcome).count();
    s.process.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.log().matches(outcome).count() == before {
        assert!(
            Instant::now() < deadline,
            "no {outcome:?} after SIGHUP\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn resp_over_tls_serves_redis_cli_redis_py_and_redis_benchmark() {
    require!(command("redis-cli"), command("redis-benchmark"), redis_py());
    let files = Files::new();
    let ca = Authority::new("test authority");
    let ca_path = files.write("ca.pem", &ca.pem());
    files.write_issued("server", &ca.server(false));
    let s = Server::start_from(
        &config(&format!(", tls: {}", files.tls("server")), "", "", ""),
        &[],
    );

    assert_eq!(stdout(&redis_cli(&s, &ca_path, &["SET", "k", "v"])), "OK");
    assert_eq!(stdout(&redis_cli(&s, &ca_path, &["GET", "k"])), "v");

    let script = format!(
        "import redis\nr = redis.Redis(host='127.0.0.1', port={}, ssl=True, ssl_ca_certs='{}')\n\
         r.set('py', 'from python')\nprint(r.get('py').decode())\nprint(r.get('k').decode())\n",
        s.resp.port(),
        ca_path.display()
    );
    let py = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "redis-py: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(stdout(&py), "from python\nv");

    let bench = Command::new("redis-benchmark")
        .args(["--tls", "--cacert"])
        .arg(&ca_path)
        .args(["-h", "127.0.0.1", "-p", &s.resp.port().to_string()])
        .args(["-c", "8", "-n", "2000", "-t", "set,get", "--csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&bench.stdout);
    assert!(bench.status.success(), "redis-benchmark: {csv}");
    for test in ["\"SET\"", "\"GET\""] {
        let line = csv
            .lines()
            .find(|l| l.starts_with(test))
            .unwrap_or_else(|| panic!("no {test} row in {csv}"));
        let rps: f64 = line
            .split(',')
            .nth(1)
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap();
        assert!(rps > 0.0, "{line}");
    }
    // 2 redis-cli, 1 redis-py and 2 x 8 redis-benchmark connections.
    assert!(eventually(19.0, || handshakes(&s, "resp", "ok")) >= 19.0);

    // A plain client on the TLS port gets no reply.
    let plain = s.cli_output(&["PING"], None);
    assert!(!stdout(&plain).contains("PONG"), "{plain:?}");
    assert!(eventually(1.0, || handshakes(&s, "resp", "protocol")) >= 1.0);
}

/// The echo service is written on the public framework API and knows nothing of TLS: the configuration
/// alone puts it behind TLS.
#[test]
fn a_framework_service_gets_tls_from_its_configuration() {
    let files = Files::new();
    let ca = Authority::new("test authority");
    files.write_issued("server", &ca.server(false));
    let s = Server::start_from(
        &config("", &format!(", tls: {}", files.tls("server")), "", ""),
        &[],
    );
    let mut echo = tls_connect([127, 0, 0, 1], s.echo, &ca.pem()).expect("handshake");
    let message = b"framework services speak TLS by configuration\n".repeat(400);
    echo.write_all(&message).unwrap();
    echo.flush().unwrap();
    let mut back = vec![0u8; message.len()];
    echo.read_exact(&mut back).unwrap();
    assert_eq!(back, message);
    // The other services stay plain.
    s.assert_healthy();
}

#[test]
fn another_authority_or_an_expired_certificate_is_refused() {
    require!(command("redis-cli"), command("curl"));
    let files = Files::new();
    let ca = Authority::new("test authority");
    let other = Authority::new("another authority");
    let ca_path = files.write("ca.pem", &ca.pem());
    let other_path = files.write("other.pem", &other.pem());
    files.write_issued("server", &ca.server(false));
    files.write_issued("expired", &ca.server(true));
    let root = files.path("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello\n").unwrap();
    let s = Server::start_from(
        &config(
            &format!(", tls: {}", files.tls("server")),
            "",
            "",
            &format!(
                "  files: {{listen: 127.0.0.1:0, settings: {{root: {}}}, tls: {}}}\n",
                root.display(),
                files.tls("expired")
            ),
        ),
        &[],
    );
    let wrong = redis_cli(&s, &other_path, &["PING"]);
    assert!(!stdout(&wrong).contains("PONG"), "{wrong:?}");
    assert_eq!(stdout(&redis_cli(&s, &ca_path, &["PING"])), "PONG");
    assert!(eventually(1.0, || handshakes(&s, "resp", "bad_certificate")) >= 1.0);

    let files_addr = s.address_of("files");
    let url = format!("https://127.0.0.1:{}/hello.txt", files_addr.port());
    assert_eq!(curl(&url, &ca_path, &[]).0, 0, "an expired certificate");
    // Accepted when the client is told to ignore validity: the server did serve it.
    let (status, body) = curl(&url, &ca_path, &["-k"]);
    assert_eq!((status, body.as_str()), (200, "hello\n"));
    assert!(eventually(1.0, || handshakes(&s, "files", "bad_certificate")) >= 1.0);
}

#[test]
fn files_over_tls_are_read_and_encrypted_and_counted() {
    require!(command("curl"));
    let files = Files::new();
    let ca = Authority::new("test authority");
    let ca_path = files.write("ca.pem", &ca.pem());
    files.write_issued("server", &ca.server(false));
    let root = files.path("root");
    std::fs::create_dir(&root).unwrap();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), &body).unwrap();
    let s = Server::start_from(
        &config(
            "",
            "",
            "",
            &format!(
                "  files: {{listen: 127.0.0.1:0, settings: {{root: {}}}, tls: {}}}\n",
                root.display(),
                files.tls("server")
            ),
        ),
        &[],
    );
    let out = files.path("got.bin");
    let status = Command::new("curl")
        .args(["-s", "-m", "10", "--cacert"])
        .arg(&ca_path)
        .arg("-o")
        .arg(&out)
        .arg(format!(
            "https://127.0.0.1:{}/big.bin",
            s.address_of("files").port()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read(&out).unwrap() == body, "the body differs");
    let fallback = |reason: &str| {
        s.metric(&format!(
            "pincore_files_fallback_total{{reason=\"{reason}\",shard=\"total\"}}"
        ))
    };
    assert_eq!(fallback("tls"), 1.0);
    assert_eq!(fallback("sendfile_refused"), 0.0);
}

#[test]
fn admin_with_a_client_ca_refuses_a_client_without_a_certificate() {
    require!(command("curl"));
    let files = Files::new();
    let ca = Authority::new("test authority");
    let clients = Authority::new("client authority");
    let ca_path = files.write("ca.pem", &ca.pem());
    files.write("clients.pem", &clients.pem());
    files.write_issued("server", &ca.server(false));
    let (client_cert, client_key) = files.write_issued("client", &clients.client());
    let (stranger_cert, stranger_key) = files.write_issued("stranger", &ca.client());
    let tls = format!(
        ", tls: {{cert: {}, key: {}, client_ca: {}}}",
        files.path("server.pem").display(),
        files.path("server.key").display(),
        files.path("clients.pem").display()
    );
    let s = Server::start_from(&config("", "", &tls, ""), &[]);
    let url = format!("https://127.0.0.1:{}/metrics", s.admin.port());

    assert_eq!(curl(&url, &ca_path, &[]).0, 0, "no client certificate");
    let stranger = [
        "--cert",
        stranger_cert.to_str().unwrap(),
        "--key",
        stranger_key.to_str().unwrap(),
    ];
    assert_eq!(
        curl(&url, &ca_path, &stranger).0,
        0,
        "a certificate of another authority"
    );
    let identity = [
        "--cert",
        client_cert.to_str().unwrap(),
        "--key",
        client_key.to_str().unwrap(),
    ];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = curl(&url, &ca_path, &identity);
        assert_eq!(status, 200);
        let refused = support::sample(
            &body,
            "pincore_tls_handshakes_total{service=\"admin\",result=\"bad_certificate\",shard=\"total\"}",
        )
        .unwrap_or(0.0);
        if refused >= 2.0 {
            break;
        }
        assert!(Instant::now() < deadline, "refusals not counted:\n{body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn reload_swaps_the_certificate_for_new_connections_and_keeps_open_ones() {
    let files = Files::new();
    let first = Authority::new("first authority");
    let second = Authority::new("second authority");
    files.write_issued("server", &first.server(false));
    let s = Server::start_from(
        &config(&format!(", tls: {}", files.tls("server")), "", "", ""),
        &[],
    );
    let mut open = tls_connect([127, 0, 0, 1], s.resp, &first.pem()).expect("handshake");
    assert_eq!(ping(&mut open), "+PONG\r\n");

    files.write_issued("server", &second.server(false));
    reload(&s, "configuration reloaded");
    let mut fresh =
        tls_connect([127, 0, 0, 1], s.resp, &second.pem()).expect("the new certificate");
    assert_eq!(ping(&mut fresh), "+PONG\r\n");
    assert!(
        tls_connect([127, 0, 0, 1], s.resp, &first.pem()).is_err(),
        "the old certificate is still served"
    );
    assert_eq!(ping(&mut open), "+PONG\r\n", "the open connection broke");
}

#[test]
fn a_bad_reload_keeps_the_running_certificate_and_names_the_file() {
    let files = Files::new();
    let ca = Authority::new("test authority");
    let other = Authority::new("another authority");
    let (cert, key) = files.write_issued("server", &ca.server(false));
    let s = Server::start_from(
        &config(&format!(", tls: {}", files.tls("server")), "", "", ""),
        &[],
    );

    // A key that is not PEM, then a key of another certificate, then no certificate file.
    files.write("server.key", "not a key\n");
    reload(&s, "reload failed");
    files.write("server.key", &other.server(false).key);
    reload(&s, "reload failed");
    std::fs::remove_file(&cert).unwrap();
    reload(&s, "reload failed");
    let log = s.log();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reload failed"))
        .collect();
    assert_eq!(failures.len(), 3, "{log}");
    for (line, path) in failures.iter().zip([&key, &key, &cert]) {
        assert!(
            line.contains(&path.display().to_string()),
            "{path:?} not named in: {line}"
        );
    }
    let mut fresh =
        tls_connect([127, 0, 0, 1], s.resp, &ca.pem()).expect("the running certificate");
    assert_eq!(ping(&mut fresh), "+PONG\r\n");
}

/// Clients that open TLS connections and never finish the handshake hold slots only until the request
/// deadline, and only their own address's: another client is served meanwhile.
#[test]
fn stalled_handshakes_time_out_and_do_not_lock_out_a_fresh_client() {
    let files = Files::new();
    let ca = Authority::new("test authority");
    files.write_issued("server", &ca.server(false));
    let text = config(
        &format!(", tls: {}", files.tls("server")),
        "",
        "",
        "limits:\n  max_connections_per_ip: 16\n  max_connections_per_shard: 200\n",
    )
    .replace("request_ms: 5000", "request_ms: 1500");
    let s = Server::start_from(&text, &[]);

    // Half a ClientHello header, then nothing.
    let stalled: Vec<TcpStream> = (0..100)
        .filter_map(|_| {
            let mut c = TcpStream::connect(s.resp).ok()?;
            let _ = c.write_all(&[0x16, 0x03]);
            Some(c)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let mut fresh = tls_connect([127, 0, 0, 2], s.resp, &ca.pem()).expect("a fresh client");
    assert_eq!(ping(&mut fresh), "+PONG\r\n");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Every stalled connection ends: refused at once past the cap, or closed at the deadline.
    for mut c in stalled {
        assert!(support::closed_by_peer(&mut c, Duration::from_secs(6)));
    }
    assert!(handshakes(&s, "resp", "timeout") >= 16.0);
    let mut again = tls_connect([127, 0, 0, 1], s.resp, &ca.pem()).expect("served again");
    assert_eq!(ping(&mut again), "+PONG\r\n");
}

#[test]
fn missing_or_mismatched_files_are_reported_with_their_path() {
    let files = Files::new();
    let ca = Authority::new("test authority");
    let (cert, _) = files.write_issued("server", &ca.server(false));
    files.write_issued("other", &ca.server(false));
    let missing = files.path("missing.key");
    let cases = [
        (
            format!("{{cert: {}, key: {}}}", cert.display(), missing.display()),
            missing.clone(),
        ),
        (
            format!(
                "{{cert: {}, key: {}}}",
                cert.display(),
                files.path("other.key").display()
            ),
            files.path("other.key"),
        ),
    ];
    for (tls, named) in cases {
        let path = files.write("server.yaml", &config(&format!(", tls: {tls}"), "", "", ""));
        let check = Command::new(env!("CARGO_BIN_EXE_pincore-server"))
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&check.stderr);
        assert_eq!(check.status.code(), Some(2), "{said}");
        assert!(said.contains("services.resp.tls.key"), "{said}");
        assert!(said.contains(&named.display().to_string()), "{said}");

        let mut serve = KillOnDrop::spawn(
            Command::new(env!("CARGO_BIN_EXE_pincore-server"))
                .arg("--config")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        )
        .unwrap();
        let status = serve.wait_timeout(Duration::from_secs(10));
        assert!(status.is_some_and(|s| !s.success()), "started anyway");
        let mut said = String::new();
        serve
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut said)
            .unwrap();
        assert!(said.contains(&named.display().to_string()), "{said}");
    }
}
