//! The admin service: a small HTTP/1.1 server for `/metrics`, `/healthz`, `/readyz` and `/config`.
//!
//! Requests are GET or HEAD without a body; the head is bounded by `limits.max_http_header_bytes` and must
//! arrive within `timeouts.request_ms`. Connections are kept alive unless the client asks otherwise, and closed
//! after `timeouts.admin_idle_ms` without a request — or sooner, when a new connection needs the slot of this
//! one idling (see [`AdmissionClass::Control`]).

use super::http::{self, Request};
use crate::framework::{AdmissionClass, Connection, Context, Service};

/// Header lines an admin request may carry (its bytes are bounded by `limits.max_http_header_bytes`).
const MAX_HEADERS: usize = 64;

pub struct Admin;

impl Service for Admin {
    const NAME: &'static str = "admin";
    const ADMISSION: AdmissionClass = AdmissionClass::Control;
    type Settings = ();

    async fn serve(&self, conn: Connection<Self>) {
        serve(conn).await
    }
}

struct Response {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
        }
    }
}

async fn serve(mut conn: Connection<Admin>) {
    let ctx = conn.context().clone();
    let mut input = http::HeadReader::new();
    loop {
        let config = ctx.config();
        // A complete head already buffered (pipelined requests)?
        if let Some(end) = http::head_end(&input.buf) {
            let head = input.take_head(end);
            let (response, keep_alive, head_only) = match http::parse_head(&head, MAX_HEADERS) {
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
            let mut out = format!(
                "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
                response.status,
                response.content_type,
                response.body.len(),
                if keep_alive { "keep-alive" } else { "close" }
            )
            .into_bytes();
            if !head_only {
                out.extend_from_slice(response.body.as_bytes());
            }
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

async fn route(ctx: &Context<Admin>, request: &Request<'_>) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        return Response::text(
            "405 Method Not Allowed",
            "only GET and HEAD are supported\n",
        );
    }
    match request.path() {
        "/metrics" => Response {
            status: "200 OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: ctx.render_metrics().await,
        },
        "/healthz" => Response::text("200 OK", "ok\n"),
        "/readyz" if ctx.ready() => Response::text("200 OK", "ready\n"),
        "/readyz" => Response::text("503 Service Unavailable", "not ready\n"),
        "/config" => Response {
            status: "200 OK",
            content_type: "application/json",
            body: ctx.config().to_json() + "\n",
        },
        _ => Response::text(
            "404 Not Found",
            "not found; try /metrics, /healthz, /readyz or /config\n",
        ),
    }
}
