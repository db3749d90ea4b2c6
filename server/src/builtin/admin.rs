//! The admin service: a small HTTP/1.1 server for `/metrics`, `/healthz`, `/readyz` and `/config`.
//!
//! Requests are GET or HEAD without a body; the head is bounded by `limits.max_http_header_bytes` and must
//! arrive within `timeouts.request_ms`. Connections are kept alive unless the client asks otherwise, and closed
//! after `timeouts.admin_idle_ms` without a request — or sooner, when a new connection needs the slot of this
//! one idling (see [`AdmissionClass::Control`]).

use std::time::Instant;

use crate::framework::{AdmissionClass, Connection, Context, ReadError, Service};

pub struct Admin;

impl Service for Admin {
    const NAME: &'static str = "admin";
    const ADMISSION: AdmissionClass = AdmissionClass::Control;
    type Settings = ();

    async fn serve(&self, conn: Connection<Self>) {
        serve(conn).await
    }
}

struct Request {
    method: String,
    path: String,
    keep_alive: bool,
    has_body: bool,
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
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = vec![0u8; 4096];
    let mut started: Option<Instant> = None;
    loop {
        let config = ctx.config();
        // A complete head already buffered (pipelined requests)?
        if let Some(end) = find_head_end(&buf) {
            let head = buf[..end].to_vec();
            buf.drain(..end);
            started = (!buf.is_empty()).then(Instant::now);
            let (response, keep_alive, head_only) = match parse_head(&head) {
                Some(request) if request.has_body => {
                    ctx.error("http_bad_request");
                    (
                        Response::text("400 Bad Request", "request bodies are not accepted\n"),
                        false,
                        false,
                    )
                }
                Some(request) => {
                    let response = route(&ctx, &request).await;
                    (response, request.keep_alive, request.method == "HEAD")
                }
                None => {
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
        if buf.len() >= config.limits.max_http_header_bytes {
            ctx.error("http_header_too_large");
            let out = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            let _ = conn.write(out, config.timeouts.admin_idle()).await;
            break;
        }
        let limit = match started {
            Some(at) => config.timeouts.request().saturating_sub(at.elapsed()),
            None => config.timeouts.admin_idle(),
        };
        let room = (config.limits.max_http_header_bytes - buf.len()).min(chunk.len());
        conn.set_idle(started.is_none() && buf.is_empty());
        match conn.read(&mut chunk[..room], limit).await {
            Ok(0) => break,
            Ok(n) => {
                conn.set_idle(false);
                buf.extend_from_slice(&chunk[..n]);
                started.get_or_insert_with(Instant::now);
            }
            Err(ReadError::TimedOut) => {
                ctx.error(if started.is_some() {
                    "request_timeout"
                } else {
                    "idle_timeout"
                });
                break;
            }
            Err(_) => break,
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut has_body = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            has_body |= value != "0";
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
        }
    }
    let path = target.split('?').next().unwrap_or(target).to_string();
    Some(Request {
        method: method.to_string(),
        path,
        keep_alive,
        has_body,
    })
}

async fn route(ctx: &Context<Admin>, request: &Request) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        return Response::text(
            "405 Method Not Allowed",
            "only GET and HEAD are supported\n",
        );
    }
    match request.path.as_str() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse() {
        let r = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.keep_alive, r.has_body),
            ("GET", "/metrics", false, false)
        );
        let r = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
        assert!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
                .unwrap()
                .has_body
        );
        assert!(parse_head(b"garbage\r\n\r\n").is_none());
        assert!(parse_head(b"GET / HTTP/1.1\r\nno-colon\r\n\r\n").is_none());
    }
}
