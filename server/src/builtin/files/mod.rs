//! The `files` service: static files from one directory over HTTP/1.1, the body sent with `sendfile(2)`.
//!
//! GET and HEAD, keep-alive and pipelining, `Content-Type` by extension, `Last-Modified` and a strong
//! `ETag`, 304 for `If-None-Match` / `If-Modified-Since`, one `Range` (206, 416), a directory's index file.
//! The request target is checked (`target.rs`), then opened beneath the root with `openat2(2)`
//! (`open.rs`); what the response says and which bytes it carries is decided purely
//! (`representation.rs`); `transfer.rs` moves it. Off unless `services.files` is configured; see README.

mod cache;
mod open;
mod representation;
mod target;
mod transfer;

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::http::{self, HeadError, Request};
use crate::framework::{Connection, Context, Counter, Service, Settings};
use cache::{Entry, FileCache};
use open::{Missed, Opened, Root};
use representation::{Meta, Selection};
use transfer::{Sent, Stop};

/// Longest request line (method, target, version): longer is 414.
pub const MAX_REQUEST_LINE: usize = 8 << 10;
/// Header bytes after the request line, and header lines: more is 431.
pub const MAX_HEADER_BYTES: usize = 16 << 10;
pub const MAX_HEADERS: usize = 64;

/// `services.files.settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSettings {
    /// The directory served. Required when the service is enabled.
    pub root: PathBuf,
    /// The file a directory's URL serves; empty: directories are 404 (there are never listings).
    #[serde(default = "index_default")]
    pub index: String,
    /// Bodies go with `sendfile(2)` (the default); `false` reads and writes them instead, as where the
    /// kernel refuses `sendfile` (nginx's `sendfile off`), to measure or to work around a file system.
    #[serde(default = "sendfile_default")]
    pub sendfile: bool,
}

fn sendfile_default() -> bool {
    true
}

fn index_default() -> String {
    "index.html".to_string()
}

impl Default for FilesSettings {
    fn default() -> Self {
        FilesSettings {
            root: PathBuf::new(),
            index: index_default(),
            sendfile: sendfile_default(),
        }
    }
}

impl Settings for FilesSettings {
    fn validate(&self) -> Result<(), String> {
        if self.index.contains('/')
            || self.index == "."
            || self.index == ".."
            || self.index.contains('\0')
        {
            return Err(format!(
                "index: {:?} must be a file name in the directory (such as index.html), or \"\" for none",
                self.index
            ));
        }
        if self.root.as_os_str().is_empty() {
            return Ok(());
        }
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(format!(
                "root: {} is not a directory; give the directory to serve",
                self.root.display()
            )),
            Err(e) => Err(format!(
                "root: cannot open {}: {e}; give an existing directory",
                self.root.display()
            )),
        }
    }

    fn check_listen(&self, _listen: std::net::SocketAddr) -> Result<(), String> {
        if self.root.as_os_str().is_empty() {
            return Err(
                "root is missing: the files service needs `settings: {root: DIRECTORY}`".into(),
            );
        }
        Ok(())
    }
}

/// The statuses the service answers with, each counted in `pincore_files_responses_total`.
const STATUSES: [&str; 12] = [
    "200 OK",
    "206 Partial Content",
    "304 Not Modified",
    "400 Bad Request",
    "403 Forbidden",
    "404 Not Found",
    "405 Method Not Allowed",
    "414 URI Too Long",
    "416 Range Not Satisfiable",
    "431 Request Header Fields Too Large",
    "500 Internal Server Error",
    "503 Service Unavailable",
];

/// Why a request was refused before any file was opened (or by the lookup), each counted in
/// `pincore_files_refused_total`.
const REASONS: [&str; 10] = [
    "malformed",
    "body",
    "not_a_path",
    "nul_byte",
    "encoded_slash",
    "traversal",
    "symlink",
    "forbidden",
    "uri_too_long",
    "headers_too_large",
];

const FALLBACK: &str = "pincore_files_fallback_total";
const FALLBACK_HELP: &str = "Bodies read and written instead of sendfile(2), by reason: the kernel refused it for the file (sendfile_refused), the connection is TLS (tls), or settings.sendfile is false (configured).";

/// The service on one shard: the root directory it has open, and its counters.
pub struct Files {
    shard: usize,
    root: RefCell<Option<Arc<Root>>>,
    responses: Vec<Counter>,
    refused: Vec<Counter>,
    /// Bodies read and written: the kernel refused `sendfile` for the file.
    fallback: Counter,
    /// Bodies read, encrypted and written: the connection is TLS.
    fallback_tls: Counter,
    /// Bodies read and written: `settings.sendfile` is false.
    fallback_configured: Counter,
    truncated: Counter,
    uncached_opens: Counter,
    /// Files opened recently, revalidated on each use.
    cache: RefCell<FileCache>,
    /// The `Date` header's value and the second it was formatted for.
    date: RefCell<(i64, String)>,
}

impl Files {
    pub fn new(ctx: &Context<Files>) -> Files {
        // The service is off unless configured: then its series stay out of `/metrics` (the counters
        // exist, unregistered, and nothing counts on them).
        let enabled = ctx.config().services.files.enabled;
        let counter = |name: &str, help: &str, labels: &[(&str, &str)]| {
            if enabled {
                ctx.counter(name, help, labels)
            } else {
                Counter::default()
            }
        };
        let responses = STATUSES
            .iter()
            .map(|s| {
                counter(
                    "pincore_files_responses_total",
                    "Responses of the files service, by status code.",
                    &[("status", &s[..3])],
                )
            })
            .collect();
        let refused = REASONS
            .iter()
            .map(|r| {
                counter(
                    "pincore_files_refused_total",
                    "Requests the files service refused, by reason (400, 403, 414, 431).",
                    &[("reason", r)],
                )
            })
            .collect();
        let files = Files {
            shard: ctx.shard_id(),
            root: RefCell::new(None),
            responses,
            refused,
            fallback: counter(
                FALLBACK,
                FALLBACK_HELP,
                &[("reason", "sendfile_refused")],
            ),
            fallback_tls: counter(FALLBACK, FALLBACK_HELP, &[("reason", "tls")]),
            fallback_configured: counter(FALLBACK, FALLBACK_HELP, &[("reason", "configured")]),
            truncated: counter(
                "pincore_files_truncated_total",
                "Responses cut short (connection closed) because the file shrank while it was sent.",
                &[],
            ),
            uncached_opens: counter(
                "pincore_files_uncached_opens_total",
                "Path lookups not in the dentry cache, done on the blocking pool.",
                &[],
            ),
            cache: RefCell::new(FileCache::default()),
            date: RefCell::new((i64::MIN, String::new())),
        };
        files.open_root(&ctx.settings());
        files
    }

    /// Opens the configured root (at start and on reload); on failure the previous one stays.
    fn open_root(&self, settings: &FilesSettings) {
        if settings.root.as_os_str().is_empty() {
            return;
        }
        match Root::open(&settings.root) {
            Ok(root) => {
                *self.root.borrow_mut() = Some(Arc::new(root));
                self.cache.borrow_mut().clear();
            }
            Err(e) => tracing::error!(
                shard = self.shard,
                root = %settings.root.display(),
                error = %e,
                "files: cannot open the root directory; serving the previous one (or 503)"
            ),
        }
    }

    fn refuse(&self, reason: &str) {
        if let Some(i) = REASONS.iter().position(|r| *r == reason) {
            self.refused[i].inc();
        }
    }

    fn count(&self, status: &str) {
        if let Some(i) = STATUSES.iter().position(|s| *s == status) {
            self.responses[i].inc();
        }
    }

    /// Appends `Date: <now>\r\n`, the date formatted once per second.
    fn write_date(&self, out: &mut Vec<u8>) {
        let now = now_secs();
        let mut date = self.date.borrow_mut();
        if date.0 != now {
            *date = (now, representation::http_date(now));
        }
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date.1.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl Service for Files {
    const NAME: &'static str = "files";
    type Settings = FilesSettings;

    async fn serve(&self, mut conn: Connection<Self>) {
        if let Err(e) = transfer::make_nonblocking(&mut conn) {
            tracing::warn!(error = %e, "files: cannot make the socket non-blocking; closing the connection");
            return;
        }
        serve(self, conn).await
    }

    /// Opens the root again even when its path is unchanged: a deployment may have put another directory
    /// at that path, or pointed it elsewhere when the path itself is a symlink (resolved here, once).
    fn on_reload(&self, settings: &FilesSettings) {
        self.open_root(settings);
    }
}

/// Whether the connection goes on after a response.
enum Next {
    KeepAlive,
    Close,
}

/// Reads requests and answers them in order until the client closes, a timeout, or a response that ends
/// the connection.
async fn serve(files: &Files, mut conn: Connection<Files>) {
    let ctx = conn.context().clone();
    let mut input = http::HeadReader::new();
    let mut out = Vec::with_capacity(512);
    loop {
        let config = ctx.config();
        let end = http::head_end(&input.buf);
        if let Some((reason, status)) = oversized(&input.buf, end) {
            files.refuse(reason);
            let _ = error_response(files, &mut conn, status, false, config.timeouts.idle()).await;
            break;
        }
        if let Some(end) = end {
            let head = input.take_head(end);
            let next = respond(files, &mut conn, &head, &mut out, config.timeouts.idle()).await;
            if matches!(next, Next::Close) || ctx.draining() {
                break;
            }
            continue;
        }
        let (idle, request) = (config.timeouts.idle(), config.timeouts.request());
        if !input.fill(&mut conn, usize::MAX, idle, request).await {
            break;
        }
    }
}

/// The refusal of a head (complete, ending at `end`, or still arriving) past the request line's or the
/// headers' limit, with its reason.
fn oversized(buf: &[u8], end: Option<usize>) -> Option<(&'static str, &'static str)> {
    let head = &buf[..end.unwrap_or(buf.len())];
    let line = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(head.len());
    if line > MAX_REQUEST_LINE {
        Some(("uri_too_long", "414 URI Too Long"))
    } else if head.len() - line > MAX_HEADER_BYTES + 4 {
        Some(("headers_too_large", "431 Request Header Fields Too Large"))
    } else {
        None
    }
}

/// Answers one request head.
async fn respond(
    files: &Files,
    conn: &mut Connection<Files>,
    head: &[u8],
    out: &mut Vec<u8>,
    within: Duration,
) -> Next {
    let request = match http::parse_head(head, MAX_HEADERS) {
        Ok(request) => request,
        Err(HeadError::Malformed) => {
            files.refuse("malformed");
            return error_response(files, conn, "400 Bad Request", false, within).await;
        }
        Err(HeadError::TooManyHeaders) => {
            files.refuse("headers_too_large");
            let status = "431 Request Header Fields Too Large";
            return error_response(files, conn, status, false, within).await;
        }
    };
    if request.has_body {
        files.refuse("body");
        return error_response(files, conn, "400 Bad Request", false, within).await;
    }
    let keep_alive = request.keep_alive;
    if request.method != "GET" && request.method != "HEAD" {
        return error_response(files, conn, "405 Method Not Allowed", keep_alive, within).await;
    }
    let beneath = match target::resolve(request.target) {
        Ok(beneath) => beneath,
        Err(refusal) => {
            files.refuse(refusal.reason());
            let status = match refusal {
                target::Refusal::Traversal => "403 Forbidden",
                _ => "400 Bad Request",
            };
            return error_response(files, conn, status, keep_alive, within).await;
        }
    };
    let entry = match lookup(files, conn.context(), beneath.path).await {
        Ok(entry) => entry,
        Err(status) => return error_response(files, conn, status, keep_alive, within).await,
    };
    send_file(files, conn, &request, &entry, out, within).await
}

/// The file for `path`: from the shard's cache when the name still leads to the cached file, else opened
/// (on the shard when the dentry cache answers, else on the blocking pool) and, unless it is a directory's
/// index file, cached.
async fn lookup(
    files: &Files,
    ctx: &Context<Files>,
    path: Vec<u8>,
) -> Result<Rc<Entry>, &'static str> {
    let Some(root) = files.root.borrow().clone() else {
        return Err("503 Service Unavailable");
    };
    let now = now_secs();
    if !path.is_empty() {
        if let Some(entry) = files.cache.borrow_mut().get(root.as_raw_fd(), &path, now) {
            return Ok(entry);
        }
    }
    let settings = ctx.settings();
    let index = (!settings.index.is_empty()).then_some(settings.index.as_str());
    let opened = match open::open(&root, &path, index, true) {
        Ok(opened) => opened,
        Err(Missed::NotCached) => {
            files.uncached_opens.inc();
            let owned = index.map(str::to_string);
            let (back, opened) = ctx
                .spawn_blocking(move || {
                    let opened = open::open(&root, &path, owned.as_deref(), false);
                    (path, opened)
                })
                .await;
            return opened
                .map(|opened| keep(files, opened, back, index, now))
                .map_err(|missed| missed_status(files, missed));
        }
        Err(missed) => return Err(missed_status(files, missed)),
    };
    Ok(keep(files, opened, path, index, now))
}

/// The entry for a file just opened for `path`, its type read from the index file's name for a directory;
/// cached unless it is one.
fn keep(files: &Files, opened: Opened, path: Vec<u8>, index: Option<&str>, now: i64) -> Rc<Entry> {
    match index {
        Some(index) if opened.is_index => Rc::new(Entry::new(opened, index.as_bytes())),
        _ => {
            let entry = Rc::new(Entry::new(opened, &path));
            files.cache.borrow_mut().insert(path, entry.clone(), now);
            entry
        }
    }
}

fn missed_status(files: &Files, missed: Missed) -> &'static str {
    match missed {
        Missed::NotFound | Missed::NotCached => "404 Not Found",
        Missed::Symlink => {
            files.refuse("symlink");
            "403 Forbidden"
        }
        Missed::Forbidden => {
            files.refuse("forbidden");
            "403 Forbidden"
        }
        Missed::Failed(e) => {
            tracing::warn!(error = %e, "files: cannot open a requested file");
            "500 Internal Server Error"
        }
    }
}

/// Sends the file's response: head, then (GET, 200 or 206) its selected bytes.
async fn send_file(
    files: &Files,
    conn: &mut Connection<Files>,
    request: &Request<'_>,
    entry: &Entry,
    head: &mut Vec<u8>,
    within: Duration,
) -> Next {
    let meta: Meta = entry.opened.meta;
    let selection = representation::select(request, &meta, &entry.etag);
    let (status, range) = match selection {
        Selection::NotModified => ("304 Not Modified", None),
        Selection::Whole => ("200 OK", Some((0, meta.size))),
        Selection::Part { start, end } => ("206 Partial Content", Some((start, end - start + 1))),
        Selection::Unsatisfiable => ("416 Range Not Satisfiable", None),
    };
    files.count(status);
    // Writes into a Vec cannot fail.
    head.clear();
    let _ = write!(head, "HTTP/1.1 {status}\r\n");
    match selection {
        Selection::Unsatisfiable => {
            let _ = write!(head, "Content-Range: bytes */{}\r\n", meta.size);
        }
        Selection::Part { start, end } => {
            let _ = write!(head, "Content-Range: bytes {start}-{end}/{}\r\n", meta.size);
        }
        _ => {}
    }
    if range.is_some() {
        head.extend_from_slice(b"Content-Type: ");
        head.extend_from_slice(entry.content_type.as_bytes());
        head.extend_from_slice(b"\r\nAccept-Ranges: bytes\r\n");
    }
    if !matches!(selection, Selection::NotModified) {
        let length = range.map_or(0, |(_, len)| len);
        head.extend_from_slice(b"Content-Length: ");
        head.extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"ETag: ");
    head.extend_from_slice(entry.etag.as_bytes());
    head.extend_from_slice(b"\r\nLast-Modified: ");
    head.extend_from_slice(entry.last_modified.as_bytes());
    head.extend_from_slice(b"\r\n");
    files.write_date(head);
    head.extend_from_slice(if request.keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    let body = match range {
        Some((offset, len)) if request.method == "GET" && len > 0 => Some((offset, len)),
        _ => None,
    };
    if let Err(stop) = transfer::send_head(conn, head, body.is_some(), within).await {
        return stopped(files, stop);
    }
    if let Some((offset, len)) = body {
        let zero_copy = conn.context().settings().sendfile;
        match transfer::send_body(conn, &entry.opened.file, offset, len, zero_copy, within).await {
            Ok(Sent::ZeroCopy) => {}
            Ok(Sent::Fallback) => files.fallback.inc(),
            Ok(Sent::Configured) => files.fallback_configured.inc(),
            Ok(Sent::Encrypted) => files.fallback_tls.inc(),
            Err(stop) => return stopped(files, stop),
        }
    }
    if request.keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

fn stopped(files: &Files, stop: Stop) -> Next {
    match stop {
        Stop::Truncated => {
            files.truncated.inc();
            tracing::debug!("files: the file shrank while it was sent; closing the connection");
        }
        Stop::TimedOut => tracing::debug!("files: the client took nothing for the write timeout"),
        Stop::Io(e) => tracing::debug!(error = %e, "files: send failed"),
    }
    Next::Close
}

/// A response without a file: a status, a one-line text body, and `Allow` for 405.
async fn error_response(
    files: &Files,
    conn: &mut Connection<Files>,
    status: &'static str,
    keep_alive: bool,
    within: Duration,
) -> Next {
    files.count(status);
    let body = format!("{status}\n");
    let allow = if status.starts_with("405") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut text = format!(
        "HTTP/1.1 {status}\r\n{allow}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n",
        body.len(),
    )
    .into_bytes();
    files.write_date(&mut text);
    let _ = write!(
        text,
        "Connection: {}\r\n\r\n{body}",
        if keep_alive { "keep-alive" } else { "close" }
    );
    match transfer::send_head(conn, &text, false, within).await {
        Ok(()) if keep_alive => Next::KeepAlive,
        Ok(()) => Next::Close,
        Err(stop) => stopped(files, stop),
    }
}

/// Seconds since the Unix epoch.
fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn the_service_is_off_until_its_section_names_a_root() {
        assert!(!Config::from_yaml("", "t").unwrap().services.files.enabled);
        let e = Config::from_yaml("services:\n  files: {listen: 127.0.0.1:8080}\n", "t")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("services.files.settings: root is missing"),
            "{e}"
        );
        let dir = std::env::temp_dir();
        let text = format!(
            "services:\n  files: {{listen: 127.0.0.1:8080, settings: {{root: {}}}}}\n",
            dir.display()
        );
        let config = Config::from_yaml(&text, "t").unwrap();
        assert!(config.services.files.enabled);
        let e = Config::from_yaml(
            "services:\n  files:\n    listen: 127.0.0.1:8080\n    settings: {root: /no/such/dir}\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("t:4:1: services.files.settings: root: cannot open /no/such/dir"),
            "{e}"
        );
        let e = Config::from_yaml(
            "services: {files: {enabled: false, settings: {root: /tmp, index: ../x}}}\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("index: \"../x\" must be a file name"), "{e}");
    }
}
