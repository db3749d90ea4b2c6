//! Accept loops: every connection is admitted against the shard's limits before it gets a task, and each
//! connection's task is contained — a panic closes that connection only, and time spent in it is attributed
//! to its service for the stall detector.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::FutureExt;
use glommio::net::TcpListener;

use super::stall;
use super::stream::Stream;
use crate::mesh::LocalFuture;
use crate::shard::{RawConnection, Shard};
use crate::tls;

/// Accepts connections for service number `service` until the shard stops accepting (drain), then closes
/// the listener.
pub async fn accept_loop(shard: Rc<Shard>, service: usize, listener: TcpListener) {
    let spec = &shard.shared.catalog.specs[service];
    let (name, class) = (spec.name, spec.admission);
    // A successor's shards hold their accepts until the old server has handed over: connections wait in
    // the listen backlog the two share.
    while !shard
        .shared
        .accepting
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        if shard.stop_accepting.is_set() {
            return;
        }
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            shard.stop_accepting.wait().await;
            None
        })
        .await;
        let Some(accepted) = accepted else { break };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                // EMFILE/ENFILE and friends: back off instead of spinning on the same error.
                tracing::warn!(shard = shard.id, service = name, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let ip = stream
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let admission = match shard.admit(service, class, ip, stream.as_raw_fd()) {
            Ok(admission) => admission,
            Err(why) => {
                shard.metrics.rejected(service, why);
                tracing::debug!(shard = shard.id, service = name, %ip, reason = why.as_str(), "connection rejected");
                continue; // dropping the stream closes it at once
            }
        };
        let _ = stream.set_nodelay(true);
        let instance = shard.instances.borrow()[service].clone();
        let inner = match shard.tls_of(service) {
            None => instance.serve(RawConnection {
                shard: shard.clone(),
                index: service,
                stream: Stream::Plain(stream),
                peer: ip,
                admission,
            }),
            Some(acceptor) => {
                let shard = shard.clone();
                // The handshake runs in the connection's own task, holding its admission slot: a client that
                // never finishes one counts against the limits like any other, until the request deadline.
                Box::pin(async move {
                    let within = shard.config().timeouts.request();
                    let counted = shard.handshakes_of(service);
                    let handshake = tls::handshake(acceptor, stream, within, &counted).await;
                    match handshake {
                        Ok(tls) => {
                            let raw = RawConnection {
                                shard: shard.clone(),
                                index: service,
                                stream: Stream::Tls(Box::new(tls)),
                                peer: ip,
                                admission,
                            };
                            instance.serve(raw).await
                        }
                        Err(why) => {
                            tracing::debug!(shard = shard.id, service = name, %ip, reason = why.as_str(), "TLS handshake failed; connection closed")
                        }
                    }
                })
            }
        };
        let shard = shard.clone();
        let serving = Attributed {
            shard: shard.clone(),
            service,
            inner,
        };
        glommio::spawn_local(async move {
            // The connection (stream and admission slot) lives inside the future: on a panic it is dropped
            // with it, so the socket closes and the slot is released.
            if let Err(panic) = AssertUnwindSafe(serving).catch_unwind().await {
                shard.metrics.panicked(service);
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-text panic".to_string());
                tracing::error!(shard = shard.id, service = name, panic = %what, "connection handler panicked; its connection is closed, the shard keeps serving");
            }
        })
        .detach();
    }
    tracing::debug!(shard = shard.id, service = name, "stopped accepting");
}

/// A service's future, marked as being polled (a few relaxed stores per poll), so the stall watchdog can say
/// which service held the CPU.
struct Attributed {
    shard: Rc<Shard>,
    service: usize,
    inner: LocalFuture<()>,
}

impl Future for Attributed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let guard = stall::Polling::enter(&this.shard.shared.watches[this.shard.id]);
        let poll = this.inner.as_mut().poll(cx);
        if let Some(held) = guard.leave() {
            let name = this.shard.shared.catalog.specs[this.service].name;
            this.shard.metrics.stalled(this.service);
            tracing::warn!(
                shard = this.shard.id,
                service = name,
                held_ms = held.as_millis() as u64,
                "service held the shard's CPU without yielding; every connection of this shard waited"
            );
        }
        poll
    }
}
