//! The admin service: a small HTTP/1.1 server for `/metrics`, `/healthz`, `/readyz` and `/config`.
//!
//! Requests are GET or HEAD without a body, and `PATCH /config` with one (`config.rs`); the head is bounded by `limits.max_http_header_bytes` and must
//! arrive within `timeouts.request_ms`. Connections are kept alive unless the client asks otherwise, and closed
//! after `timeouts.admin_idle_ms` without a request — or sooner, when a new connection needs the slot of this
//! one idling (see [`AdmissionClass::Control`]).

mod config;

use serde_json::{json, Value};

use super::http::{self, Request};
use crate::framework::{AdmissionClass, Connection, Context, Counter, Service};
pub use config::AdminSettings;
use config::{Refusal, Refuse};

/// Header lines an admin request may carry (its bytes are bounded by `limits.max_http_header_bytes`).
const MAX_HEADERS: usize = 64;

/// The service on one shard: its counters of `PATCH /config` outcomes.
pub struct Admin {
    applied: Counter,
    /// By [`Refusal::ALL`]'s order.
    refused: Vec<Counter>,
}

const PATCHES: &str = "pincore_config_patches_total";
const PATCHES_HELP: &str =
    "PATCH /config requests on this shard: applied, or refused by reason (off, unauthorized, malformed, invalid, needs_restart, ...).";

impl Admin {
    pub fn new(ctx: &Context<Admin>) -> Admin {
        Admin {
            applied: ctx.counter(PATCHES, PATCHES_HELP, &[("result", "applied")]),
            refused: Refusal::ALL
                .iter()
                .map(|r| ctx.counter(PATCHES, PATCHES_HELP, &[("result", r.label())]))
                .collect(),
        }
    }

    fn count_refused(&self, why: Refusal) {
        if let Some(i) = Refusal::ALL.iter().position(|r| *r == why) {
            self.refused[i].inc();
        }
    }
}

impl Service for Admin {
    const NAME: &'static str = "admin";
    const ADMISSION: AdmissionClass = AdmissionClass::Control;
    type Settings = AdminSettings;

    async fn serve(&self, conn: Connection<Self>) {
        serve(self, conn).await
    }
}

struct Response {
    status: &'static str,
    content_type: &'static str,
    body: String,
    /// An extra header line (without CRLF), such as `WWW-Authenticate: Bearer`.
    extra: Option<&'static str>,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
            extra: None,
        }
    }

    fn json(status: &'static str, body: &Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: serde_json::to_string_pretty(body).unwrap_or_default() + "\n",
            extra: None,
        }
    }

    fn refused(Refuse(why, body): Refuse) -> Response {
        let mut response = Response::json(why.status(), &body);
        if why == Refusal::Unauthorized {
            response.extra = Some("WWW-Authenticate: Bearer");
        }
        response
    }
}

async fn serve(admin: &Admin, mut conn: Connection<Admin>) {
    let ctx = conn.context().clone();
    let mut input = http::HeadReader::new();
    loop {
        let config = ctx.config();
        // A complete head already buffered (pipelined requests)?
        if let Some(end) = http::head_end(&input.buf) {
            let head = input.take_head(end);
            let (response, keep_alive, head_only) = match http::parse_head(&head, MAX_HEADERS) {
                Ok(request) if request.method == "PATCH" && request.path() == "/config" => {
                    let response = match read_body(&mut conn, &mut input, &request).await {
                        Ok(body) => patch_config(admin, &ctx, &request, &body).await,
                        Err(None) => break,
                        Err(Some(refuse)) => {
                            admin.count_refused(refuse.0);
                            // The rest of a refused body is not read: the connection closes after the answer.
                            let out = render(&Response::refused(refuse), false, false);
                            let _ = conn.write(&out, config.timeouts.admin_idle()).await;
                            break;
                        }
                    };
                    (response, request.keep_alive, false)
                }
                Ok(request) if request.has_body => {
                    ctx.error("http_bad_request");
                    (
                        Response::text("400 Bad Request", "request bodies are not accepted\n"),
                        false,
                        false,
                    )
                }
                Ok(request) => {
                    let response = route(&ctx, &request).await;
                    (response, request.keep_alive, request.method == "HEAD")
                }
                Err(_) => {
                    ctx.error("http_bad_request");
                    (
                        Response::text("400 Bad Request", "malformed request\n"),
                        false,
                        false,
                    )
                }
            };
            let out = render(&response, keep_alive, head_only);
            if conn
                .write(&out, config.timeouts.admin_idle())
                .await
                .is_err()
            {
                break;
            }
            if !keep_alive {
                break;
            }
            continue;
        }
        if input.buf.len() >= config.limits.max_http_header_bytes {
            ctx.error("http_header_too_large");
            let out = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            let _ = conn.write(out, config.timeouts.admin_idle()).await;
            break;
        }
        let room = config.limits.max_http_header_bytes - input.buf.len();
        let (idle, request) = (config.timeouts.admin_idle(), config.timeouts.request());
        if !input.fill(&mut conn, room, idle, request).await {
            break;
        }
    }
}

/// The response as bytes on the wire.
fn render(response: &Response, keep_alive: bool, head_only: bool) -> Vec<u8> {
    let extra = response
        .extra
        .map(|e| format!("{e}\r\n"))
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}Connection: {}\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(response.body.as_bytes());
    }
    out
}

/// Reads the body of `PATCH /config` (its `Content-Length` bytes, at most [`config::MAX_PATCH_BYTES`],
/// within the request timeout). `Err(None)`: the connection ended or timed out.
async fn read_body(
    conn: &mut Connection<Admin>,
    input: &mut http::HeadReader,
    request: &Request<'_>,
) -> Result<Vec<u8>, Option<Refuse>> {
    let length = match request.header("content-length").map(str::parse::<usize>) {
        Some(Ok(n)) if request.header("transfer-encoding").is_none() => n,
        _ => {
            return Err(Some(Refuse::new(
                Refusal::Malformed,
                "malformed patch: send the JSON merge patch with a Content-Length (no chunked encoding)",
            )))
        }
    };
    if length > config::MAX_PATCH_BYTES {
        return Err(Some(Refuse::new(
            Refusal::TooLarge,
            format!(
                "the patch has {length} bytes; at most {} are accepted",
                config::MAX_PATCH_BYTES
            ),
        )));
    }
    let timeouts = conn.context().config().timeouts.clone();
    while input.buf.len() < length {
        let room = length - input.buf.len();
        if !input
            .fill(conn, room, timeouts.request(), timeouts.request())
            .await
        {
            return Err(None);
        }
    }
    Ok(input.take_head(length))
}

/// The bearer token when one is configured and readable: `Ok(None)` when no token file is configured.
async fn configured_token(ctx: &Context<Admin>) -> Result<Option<String>, Refuse> {
    let Some(path) = ctx.settings().token_file.clone() else {
        return Ok(None);
    };
    match ctx.spawn_blocking(move || config::read_token(&path)).await {
        Ok(token) => Ok(Some(token)),
        Err(e) => {
            tracing::error!(error = %e, "the admin token file cannot be used; PATCH /config refuses everything");
            Err(Refuse::new(
                Refusal::TokenUnreadable,
                "the server's token file cannot be read (see its log)",
            ))
        }
    }
}

/// `GET /config`: the running configuration, its passwords redacted unless the request carries the token.
async fn get_config(ctx: &Context<Admin>, request: &Request<'_>) -> Response {
    let mut value = config::to_value(&ctx.config());
    let full = match request.header("authorization") {
        None => false,
        Some(header) => match configured_token(ctx).await {
            Ok(Some(token)) if config::bearer_matches(header, &token) => true,
            Ok(_) => {
                return Response::refused(Refuse::new(
                    Refusal::Unauthorized,
                    "the bearer token is not the one in services.admin.settings.token_file",
                ))
            }
            Err(refuse) => return Response::refused(refuse),
        },
    };
    if !full {
        config::redact(&mut value);
    }
    Response::json("200 OK", &value)
}

/// `PATCH /config[?persist=true]`: checks the token, merges the patch into the running configuration and
/// applies it as SIGHUP would, all or nothing; answers with the changes.
async fn patch_config(
    admin: &Admin,
    ctx: &Context<Admin>,
    request: &Request<'_>,
    body: &[u8],
) -> Response {
    let persist = request.target.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|p| p == "persist=true" || p == "persist=1")
    });
    match try_patch(ctx, request, body, persist).await {
        Ok(answer) => {
            admin.applied.inc();
            Response::json("200 OK", &answer)
        }
        Err(refuse) => {
            admin.count_refused(refuse.0);
            Response::refused(refuse)
        }
    }
}

async fn try_patch(
    ctx: &Context<Admin>,
    request: &Request<'_>,
    body: &[u8],
    persist: bool,
) -> Result<Value, Refuse> {
    let Some(token) = configured_token(ctx).await? else {
        return Err(Refuse::new(
            Refusal::Off,
            "PATCH /config is off: set services.admin.settings.token_file to a file holding a bearer token",
        ));
    };
    let authorized = request
        .header("authorization")
        .is_some_and(|h| config::bearer_matches(h, &token));
    if !authorized {
        return Err(Refuse::new(
            Refusal::Unauthorized,
            "send Authorization: Bearer <the token in services.admin.settings.token_file>",
        ));
    }
    let running = ctx.config();
    let (text, asked) = config::patched(&running, body)?;
    let now = ctx
        .replace_config(&text, "the patched configuration", persist)
        .await
        .map_err(|refused| Refuse::from_framework(&refused, asked))?;
    let changes = config::diff(&config::to_value(&running), &config::to_value(&now));
    tracing::info!(
        changes = changes.len(),
        persist,
        "configuration patched over the admin API"
    );
    Ok(json!({
        "applied": true,
        "persisted": persist,
        "changes": changes,
        "needs_restart": [],
    }))
}

async fn route(ctx: &Context<Admin>, request: &Request<'_>) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        return Response::text(
            "405 Method Not Allowed",
            "only GET and HEAD are supported (and PATCH on /config)\n",
        );
    }
    match request.path() {
        "/metrics" => Response {
            status: "200 OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: ctx.render_metrics().await,
            extra: None,
        },
        "/healthz" => Response::text("200 OK", "ok\n"),
        "/readyz" if ctx.ready() => Response::text("200 OK", "ready\n"),
        "/readyz" => Response::text("503 Service Unavailable", "not ready\n"),
        "/config" => get_config(ctx, request).await,
        _ => Response::text(
            "404 Not Found",
            "not found; try /metrics, /healthz, /readyz or /config\n",
        ),
    }
}
