//! A shard: one pinned glommio executor with its own metrics, connections, settings and one instance of each
//! registered service.
//!
//! Everything here is shard-local (`Rc`, `Cell`, `RefCell`); shards send each other control, metrics and
//! services' jobs through the channel mesh ([`crate::mesh`]). The process-wide state is [`Shared`], read at
//! start-up, on reload and by readiness checks.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use std::hash::BuildHasher;

use glommio::channels::channel_mesh::Senders;
use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::TaskQueueHandle;

use crate::config::Config;
use crate::framework::catalog::AdmissionClass;
use crate::framework::catalog::Catalog;
use crate::framework::settings::AnySettings;
use crate::linger::Lingering;
use crate::listener::ShardSockets;
use crate::logging::LogLevelHandle;
use crate::mesh::{Envelope, Job, LocalFuture, Op, Outcome, Pending, Reply, Ticket};
use crate::metrics::{Rejection, ShardMetrics, ShardSnapshot};
use crate::tls::{Acceptor, Handshakes};

/// Process-wide state, shared by every shard's thread. Nothing in it is touched on the request path.
pub struct Shared {
    /// CPU of each shard, by shard index.
    pub cpus: Vec<usize>,
    /// Shards whose listeners are all up.
    pub listening: AtomicUsize,
    /// Set once shutdown has begun (for `/readyz`).
    pub draining: AtomicBool,
    pub log: LogLevelHandle,
    /// The file to re-read on SIGHUP (`None`: running on the embedded default).
    pub config_path: Option<PathBuf>,
    /// `--cpus` given on the command line (applied to reloaded files too).
    pub cpus_override: Option<crate::config::CpuList>,
    pub started: Instant,
    /// Taken by shard 0, which waits for signals.
    pub signals: Mutex<Option<signal_hook::iterator::Signals>>,
    /// Each shard takes its own listening sockets at start.
    pub sockets: Mutex<Vec<Option<ShardSockets>>>,
    /// The registered services: how to build one on a shard, how to read its settings.
    pub catalog: Catalog,
    /// Each service's settings at start-up, by service index.
    pub settings: Vec<AnySettings>,
    /// Each service's TLS configuration at start-up, by service index (`None`: plain TCP).
    pub tls: Vec<Option<Acceptor>>,
    /// Chooses the shard that owns a key: fixed seeds, so every shard agrees.
    pub owners: ahash::RandomState,
    /// The number of the latest change to the running configuration (a SIGHUP reload, or a service's
    /// `Context::reconfigure`): each change takes the next one, and a shard applies a change only if it is
    /// newer than the one it has, so changes started on different shards at once end the same on every
    /// shard (the last numbered wins) rather than in each shard's arrival order.
    pub config_version: std::sync::atomic::AtomicU64,
    /// With `--handoff-socket`: the socket and a copy of every listener, for a successor.
    pub(crate) handoff: Option<crate::handoff::Held>,
    /// With `--upgrade-from`: the running server this one takes over from.
    pub(crate) predecessor: Option<crate::handoff::Predecessor>,
    /// Set once a successor is ready: the drain then ends in a handoff, not an exit.
    pub handing_over: AtomicBool,
    /// Accept loops wait for this (a successor's are held until its predecessor has handed over).
    pub accepting: AtomicBool,
    /// Each shard's poll state for the stall watchdog, by shard index.
    pub(crate) watches: std::sync::Arc<[crate::framework::stall::Watch]>,
}

impl Shared {
    pub fn shards(&self) -> usize {
        self.cpus.len()
    }

    /// The shard that owns `key` (see [`crate::framework::Context::owner_of`]).
    pub fn owner_of(&self, key: &[u8]) -> usize {
        (self.owners.hash_one(key) % self.shards().max(1) as u64) as usize
    }

    /// Every shard listens and shutdown has not begun.
    pub fn ready(&self) -> bool {
        self.listening.load(Ordering::Relaxed) == self.shards()
            && self.accepting.load(Ordering::Relaxed)
            && !self.draining.load(Ordering::Relaxed)
    }
}

/// A one-way shard-local flag that tasks can wait for.
#[derive(Default)]
pub struct Latch {
    set: Cell<bool>,
    next: Cell<u64>,
    /// The waiters' wakers by waiter id; a waiter dropped before the latch is set removes its own.
    wakers: RefCell<HashMap<u64, Waker>>,
}

impl Latch {
    pub fn set(&self) {
        self.set.set(true);
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        wakers.into_values().for_each(Waker::wake);
    }

    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Resolves once [`Latch::set`] has been called. Any number of tasks may wait (every connection of a
    /// service waiting for the drain, say): each holds one waker slot until it resolves or is dropped.
    pub fn wait(&self) -> LatchWait<'_> {
        LatchWait {
            latch: self,
            id: None,
        }
    }
}

pub struct LatchWait<'a> {
    latch: &'a Latch,
    id: Option<u64>,
}

impl Future for LatchWait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.latch.set.get() {
            return Poll::Ready(());
        }
        let id = *this.id.get_or_insert_with(|| {
            let id = this.latch.next.get() + 1;
            this.latch.next.set(id);
            id
        });
        this.latch
            .wakers
            .borrow_mut()
            .insert(id, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for LatchWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.latch.wakers.borrow_mut().remove(&id);
        }
    }
}

#[cfg(test)]
mod latch_tests {
    use super::*;

    #[test]
    fn dropped_waiters_leave_no_waker_behind_and_live_ones_are_woken() {
        let latch = Latch::default();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..1000 {
            let mut wait = latch.wait();
            assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        }
        assert!(latch.wakers.borrow().is_empty());
        let mut kept = latch.wait();
        assert!(Pin::new(&mut kept).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut kept).poll(&mut cx).is_pending());
        assert_eq!(latch.wakers.borrow().len(), 1);
        latch.set();
        assert!(Pin::new(&mut kept).poll(&mut cx).is_ready());
    }
}

#[derive(Default)]
struct ConnectionTable {
    next_id: u64,
    /// Open connections' descriptors, to shut their read side when draining.
    open: HashMap<u64, RawFd>,
    per_ip: HashMap<IpAddr, usize>,
    /// Control-class connections still holding a slot (an evicted one leaves at once, before its task ends).
    admin: HashMap<u64, AdminSlot>,
    admin_per_ip: HashMap<IpAddr, usize>,
    /// Control-class connections open (evicted ones until their task ends), not counted against the data caps.
    control_open: usize,
}

struct AdminSlot {
    ip: IpAddr,
    fd: RawFd,
    /// Since when it waits for a request; `None` while one is being read or answered.
    idle_since: Option<Instant>,
}

impl ConnectionTable {
    fn release_admin(&mut self, id: u64) -> Option<AdminSlot> {
        let slot = self.admin.remove(&id)?;
        if let Some(n) = self.admin_per_ip.get_mut(&slot.ip) {
            *n -= 1;
            if *n == 0 {
                self.admin_per_ip.remove(&slot.ip);
            }
        }
        Some(slot)
    }

    /// The admin connection idle the longest (from `ip` only, when given).
    fn longest_idle_admin(&self, ip: Option<IpAddr>) -> Option<u64> {
        self.admin
            .iter()
            .filter(|(_, s)| ip.is_none_or(|ip| s.ip == ip))
            .filter_map(|(id, s)| s.idle_since.map(|t| (t, *id)))
            .min()
            .map(|(_, id)| id)
    }
}

/// A service of some type, as a shard holds it (implemented for every [`crate::framework::Service`] in
/// `framework/erased.rs`).
pub(crate) trait Erased {
    fn serve(self: Rc<Self>, conn: RawConnection) -> LocalFuture<()>;
    fn reload(&self, settings: &AnySettings);
    fn as_any(self: Rc<Self>) -> Rc<dyn Any>;
    /// Writes (`save`) or reads this instance's state for a handoff, in its own directory `dir`.
    fn state(self: Rc<Self>, save: bool, dir: PathBuf) -> LocalFuture<Result<(), String>>;
}

/// What the engine hands a service's [`Erased::serve`]: the stream and its admission slot.
pub(crate) struct RawConnection {
    pub shard: Rc<Shard>,
    pub index: usize,
    pub stream: crate::framework::Stream,
    pub peer: std::net::IpAddr,
    pub admission: Admission,
}

/// One shard's state.
pub struct Shard {
    pub id: usize,
    pub count: usize,
    pub cpu: usize,
    pub shared: std::sync::Arc<Shared>,
    pub metrics: ShardMetrics,
    config: RefCell<Rc<Config>>,
    /// Each service's settings, by service index (replaced on reload).
    settings: RefCell<Vec<AnySettings>>,
    /// Each service's TLS configuration for connections accepted from now on, by service index (replaced
    /// on reload; open connections keep theirs).
    tls: RefCell<Vec<Option<Acceptor>>>,
    /// Each service's TLS handshake counters, by service index, registered at its first handshake (so a
    /// service without TLS has no such series).
    handshakes: RefCell<Vec<Option<Rc<Handshakes>>>>,
    /// The number of the configuration change applied here last (see `Shared::config_version`).
    config_version: Cell<u64>,
    /// This shard's instance of each service, by service index (set once at start).
    pub(crate) instances: RefCell<Vec<Rc<dyn Erased>>>,
    /// The low-share queue for housekeeping tasks.
    pub housekeeping: TaskQueueHandle,
    requests: Senders<Envelope>,
    replies: Senders<Reply>,
    /// Requests this shard sent to other shards over the mesh (`pincore_mesh_messages_sent_total`).
    mesh_sent: crate::metrics::Counter,
    pending: Rc<Pending>,
    connections: RefCell<ConnectionTable>,
    draining: Cell<bool>,
    /// Accept loops stop when this is set.
    pub stop_accepting: Latch,
    /// The shard's main future returns when this is set.
    pub exit: Latch,
    /// On shard 0 during a handoff: set when every shard has drained (instead of exiting).
    pub all_drained: Latch,
    /// Connections' sockets a drain holds until their clients close (see `crate::linger`).
    lingering: RefCell<Lingering>,
    /// Set once a drain has let go of every socket it held (or its deadline passed).
    lingered: Latch,
    drained_peers: Cell<usize>,
    /// glommio task queue index → name, for metrics.
    pub queue_names: RefCell<Vec<(usize, &'static str)>>,
}

/// Control-class (admin) connections allowed per shard, besides `limits.max_connections_per_shard` for the
/// data services.
pub const ADMIN_CONNECTIONS_PER_SHARD: u64 = 64;

/// A connection admitted by [`Shard::admit`]; dropping it releases its slot.
pub struct Admission {
    shard: Rc<Shard>,
    id: u64,
    ip: IpAddr,
    service: usize,
    class: AdmissionClass,
    opened: Instant,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut table = self.shard.connections.borrow_mut();
        table.open.remove(&self.id);
        if self.class == AdmissionClass::Control {
            table.release_admin(self.id);
            table.control_open -= 1;
        } else if let Some(n) = table.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                table.per_ip.remove(&self.ip);
            }
        }
        self.shard
            .metrics
            .closed(self.service, self.opened.elapsed());
    }
}

impl Shard {
    pub fn new(
        id: usize,
        shared: std::sync::Arc<Shared>,
        config: Config,
        requests: Senders<Envelope>,
        replies: Senders<Reply>,
        housekeeping: TaskQueueHandle,
    ) -> Shard {
        let metrics = ShardMetrics::new(&shared.catalog.names());
        let mesh_sent = metrics.counter(
            "pincore_mesh_messages_sent_total",
            "Requests this shard sent to other shards over the channel mesh (jobs, metrics, reloads, drain).",
            &[],
        );
        let handshakes = RefCell::new(vec![None; shared.catalog.specs.len()]);
        Shard {
            id,
            count: shared.shards(),
            cpu: shared.cpus.get(id).copied().unwrap_or(0),
            metrics,
            mesh_sent,
            settings: RefCell::new(shared.settings.clone()),
            tls: RefCell::new(shared.tls.clone()),
            handshakes,
            config_version: Cell::new(0),
            instances: RefCell::default(),
            housekeeping,
            shared,
            config: RefCell::new(Rc::new(config)),
            requests,
            replies,
            pending: Rc::default(),
            connections: RefCell::default(),
            draining: Cell::new(false),
            stop_accepting: Latch::default(),
            exit: Latch::default(),
            all_drained: Latch::default(),
            lingering: RefCell::default(),
            lingered: Latch::default(),
            drained_peers: Cell::new(0),
            queue_names: RefCell::default(),
        }
    }

    /// The running configuration (limits and timeouts change on reload; read it per request batch).
    pub fn config(&self) -> Rc<Config> {
        self.config.borrow().clone()
    }

    pub fn draining(&self) -> bool {
        self.draining.get()
    }

    /// The settings of service number `index`.
    pub fn settings_of(&self, index: usize) -> AnySettings {
        self.settings.borrow()[index].clone()
    }

    /// The TLS configuration of service number `index` for a connection accepted now (`None`: plain TCP).
    pub fn tls_of(&self, index: usize) -> Option<Acceptor> {
        self.tls.borrow().get(index).cloned().flatten()
    }

    /// The TLS handshake counters of service number `index`.
    pub fn handshakes_of(&self, index: usize) -> Rc<Handshakes> {
        let mut all = self.handshakes.borrow_mut();
        all[index]
            .get_or_insert_with(|| {
                let name = self.shared.catalog.specs[index].name;
                Rc::new(Handshakes::register(&self.metrics, name))
            })
            .clone()
    }

    /// Admits a new connection from `ip` to service number `service`, or says why not.
    pub fn admit(
        self: &Rc<Self>,
        service: usize,
        class: AdmissionClass,
        ip: IpAddr,
        fd: RawFd,
    ) -> Result<Admission, Rejection> {
        if self.draining.get() {
            return Err(Rejection::Draining);
        }
        let config = self.config();
        let mut table = self.connections.borrow_mut();
        if class == AdmissionClass::Control {
            // The admin port has its own caps, apart from the data ports', so a flood there cannot lock out
            // scrapes. At a cap the longest-idle admin connection (that address's own, at the per-IP cap)
            // is closed to make room: idle sockets cannot hold the port against a new scrape or probe.
            let from_ip = table.admin_per_ip.get(&ip).copied().unwrap_or(0);
            let full = if from_ip >= config.limits.max_admin_connections_per_ip {
                Some(Some(ip))
            } else if table.admin.len() as u64 >= ADMIN_CONNECTIONS_PER_SHARD {
                Some(None)
            } else {
                None
            };
            if let Some(among) = full {
                let Some(victim) = table.longest_idle_admin(among) else {
                    return Err(if among.is_some() {
                        Rejection::PerIp
                    } else {
                        Rejection::MaxConnections
                    });
                };
                if let Some(slot) = table.release_admin(victim) {
                    // SAFETY: the descriptor belongs to a connection whose task still owns it (its entry in
                    // `open` goes when that task ends); shutdown(2) neither closes nor invalidates it. Its
                    // pending read then ends and the task closes the connection.
                    unsafe { libc::shutdown(slot.fd, libc::SHUT_RDWR) };
                    self.metrics.error("admin_idle_evicted");
                }
            }
        } else {
            let data_open = table.open.len() - table.control_open;
            if data_open >= config.limits.max_connections_per_shard {
                return Err(Rejection::MaxConnections);
            }
            let per_ip = table.per_ip.entry(ip).or_insert(0);
            if *per_ip >= config.limits.max_connections_per_ip {
                return Err(Rejection::PerIp);
            }
            *per_ip += 1;
        }
        table.next_id += 1;
        let id = table.next_id;
        table.open.insert(id, fd);
        if class == AdmissionClass::Control {
            let idle_since = Some(Instant::now());
            table.admin.insert(id, AdminSlot { ip, fd, idle_since });
            *table.admin_per_ip.entry(ip).or_insert(0) += 1;
            table.control_open += 1;
        }
        self.metrics.accepted(service);
        Ok(Admission {
            shard: self.clone(),
            id,
            ip,
            service,
            class,
            opened: Instant::now(),
        })
    }

    /// Marks an admin connection idle (waiting for a request) or busy, for eviction at the admin caps.
    pub fn admin_idle(&self, admission: &Admission, idle: bool) {
        if let Some(slot) = self.connections.borrow_mut().admin.get_mut(&admission.id) {
            slot.idle_since = match (idle, slot.idle_since) {
                (true, Some(since)) => Some(since),
                (true, None) => Some(Instant::now()),
                (false, _) => None,
            };
        }
    }

    /// Sends `op` to `shard` (or runs it here when it is this shard) and returns the reply's ticket.
    pub async fn call(self: &Rc<Self>, shard: usize, op: Op) -> Ticket {
        if shard == self.id {
            if let Op::Run { service, job } = op {
                return Ticket::Ready(Some(self.run_job(service, job).await));
            }
            if let Op::State { save, dir } = op {
                return Ticket::Ready(Some(self.run_state(save, dir).await));
            }
            return Ticket::Ready(Some(self.handle(op).unwrap_or(Outcome::Done)));
        }
        let id = self.pending.register();
        self.mesh_sent.inc();
        match self.requests.send_to(shard, Envelope { id, op }).await {
            Ok(()) => Ticket::Waiting {
                pending: self.pending.clone(),
                id,
            },
            Err(_) => {
                self.pending.abandon(id);
                Ticket::Ready(Some(Outcome::Unavailable))
            }
        }
    }

    /// Sends `op` to every shard (in shard order) and returns the tickets.
    pub async fn broadcast(self: &Rc<Self>, op: impl Fn() -> Op) -> Vec<Ticket> {
        let mut tickets = Vec::with_capacity(self.count);
        for shard in 0..self.count {
            tickets.push(self.call(shard, op()).await);
        }
        tickets
    }

    /// Sends a control message that wants no reply.
    pub async fn tell(self: &Rc<Self>, shard: usize, op: Op) {
        if shard == self.id {
            self.handle(op);
            return;
        }
        self.mesh_sent.inc();
        if self
            .requests
            .send_to(shard, Envelope { id: 0, op })
            .await
            .is_err()
        {
            tracing::debug!(
                shard = self.id,
                peer = shard,
                "peer gone; control message dropped"
            );
        }
    }

    /// Runs a service's job on this shard's instance of it; a panic is contained (and counted) here.
    async fn run_job(self: &Rc<Self>, service: usize, job: Job) -> Outcome {
        use futures_lite::FutureExt;
        let instance = self.instances.borrow().get(service).cloned();
        let Some(instance) = instance else {
            return Outcome::Ran(None);
        };
        match std::panic::AssertUnwindSafe(job(instance.as_any()))
            .catch_unwind()
            .await
        {
            Ok(reply) => Outcome::Ran(reply),
            Err(_) => {
                self.metrics.panicked(service);
                tracing::error!(
                    shard = self.id,
                    service = self.shared.catalog.specs[service].name,
                    "a job sent from another shard panicked; its sender gets Unavailable"
                );
                Outcome::Ran(None)
            }
        }
    }

    /// Has every service on this shard write (`save`) or read its handoff state, each in
    /// `dir/<service>/<shard>`; returns what failed, each naming the service and shard.
    async fn run_state(self: &Rc<Self>, save: bool, dir: PathBuf) -> Outcome {
        use futures_lite::FutureExt;
        let mut failures = Vec::new();
        let instances = self.instances.borrow().clone();
        for (index, instance) in instances.into_iter().enumerate() {
            let name = self.shared.catalog.specs[index].name;
            let own = dir.join(name).join(self.id.to_string());
            if save {
                if let Err(e) = std::fs::create_dir_all(&own) {
                    failures.push(format!(
                        "{name} on shard {}: {}: {e}",
                        self.id,
                        own.display()
                    ));
                    continue;
                }
            } else if !own.is_dir() {
                continue; // the old server had nothing of this service's to hand over
            }
            let result = std::panic::AssertUnwindSafe(instance.state(save, own))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("panicked".to_string()));
            if let Err(e) = result {
                failures.push(format!("{name} on shard {}: {e}", self.id));
            }
        }
        Outcome::State(failures)
    }

    /// On shard 0: [`Shard::run_state`] on every shard; what failed anywhere.
    pub(crate) async fn services_state(
        self: &Rc<Self>,
        save: bool,
        dir: &std::path::Path,
    ) -> Vec<String> {
        let tickets = self
            .broadcast(|| Op::State {
                save,
                dir: dir.to_path_buf(),
            })
            .await;
        let mut failures = Vec::new();
        for (shard, ticket) in tickets.into_iter().enumerate() {
            match ticket.await {
                Outcome::State(failed) => failures.extend(failed),
                _ => failures.push(format!("shard {shard} did not answer")),
            }
        }
        failures
    }

    /// Executes a request on this shard: data operations return an outcome, control operations `None`.
    pub fn handle(self: &Rc<Self>, op: Op) -> Option<Outcome> {
        let outcome = match op {
            Op::Snapshot => Outcome::Snapshot(Box::new(self.snapshot())),
            Op::Reconfigure(version, config, settings, tls) => {
                if version <= self.config_version.get() {
                    tracing::debug!(
                        shard = self.id,
                        version,
                        "a newer configuration is applied already; this one is skipped"
                    );
                    return None;
                }
                self.config_version.set(version);
                *self.config.borrow_mut() = Rc::new(*config);
                *self.settings.borrow_mut() = settings.clone();
                *self.tls.borrow_mut() = tls;
                let instances = self.instances.borrow().clone();
                for (instance, settings) in instances.iter().zip(&settings) {
                    instance.reload(settings);
                }
                tracing::debug!(shard = self.id, "configuration applied");
                return None;
            }
            Op::State { save, dir } => {
                // Only reached for a request without a reply slot; `call` and `serve_peer` run it themselves.
                let shard = self.clone();
                glommio::spawn_local(async move {
                    shard.run_state(save, dir).await;
                })
                .detach();
                return None;
            }
            Op::Run { service, job } => {
                // Only reached for a job without a reply slot; `call` and `serve_peer` run jobs themselves.
                let shard = self.clone();
                glommio::spawn_local(async move {
                    shard.run_job(service, job).await;
                })
                .detach();
                return None;
            }
            Op::Drain => {
                glommio::spawn_local(self.clone().drain()).detach();
                return None;
            }
            Op::Drained => {
                self.peer_drained();
                return None;
            }
            Op::Exit => {
                self.exit.set();
                return None;
            }
        };
        Some(outcome)
    }

    /// This shard's metrics as plain data.
    pub fn snapshot(&self) -> ShardSnapshot {
        self.metrics
            .absorb_executor_stats(&self.queue_names.borrow());
        self.metrics.snapshot(self.id, self.cpu)
    }

    /// Serves one peer's requests until its channel closes. A service's job runs in a task of its own, so a
    /// slow one does not hold up the control messages behind it.
    pub async fn serve_peer(self: Rc<Self>, peer: usize, requests: ConnectedReceiver<Envelope>) {
        while let Some(Envelope { id, op }) = requests.recv().await {
            if let Op::Run { service, job } = op {
                let shard = self.clone();
                glommio::spawn_local(async move {
                    let outcome = shard.run_job(service, job).await;
                    if id != 0
                        && shard
                            .replies
                            .send_to(peer, Reply { id, outcome })
                            .await
                            .is_err()
                    {
                        tracing::debug!(shard = shard.id, peer, "peer gone; reply dropped");
                    }
                })
                .detach();
                continue;
            }
            if let Op::State { save, dir } = op {
                let outcome = self.run_state(save, dir).await;
                if self
                    .replies
                    .send_to(peer, Reply { id, outcome })
                    .await
                    .is_err()
                {
                    tracing::debug!(shard = self.id, peer, "peer gone; reply dropped");
                }
                continue;
            }
            let outcome = self.handle(op);
            if id != 0 {
                let reply = Reply {
                    id,
                    outcome: outcome.unwrap_or(Outcome::Done),
                };
                if self.replies.send_to(peer, reply).await.is_err() {
                    tracing::debug!(shard = self.id, peer, "peer gone; reply dropped");
                }
            }
        }
    }

    /// Hands replies from one peer to the requests waiting for them. Never blocks on anything else, so the
    /// reply channels always drain.
    pub async fn collect_replies(self: Rc<Self>, replies: ConnectedReceiver<Reply>) {
        while let Some(Reply { id, outcome }) = replies.recv().await {
            self.pending.complete(id, outcome);
        }
        self.pending.fail_all();
    }

    /// Stops accepting, closes idle connections, waits for the others up to the drain deadline, then reports
    /// to shard 0.
    pub async fn drain(self: Rc<Self>) {
        if self.draining.replace(true) {
            return;
        }
        self.shared.draining.store(true, Ordering::Relaxed);
        self.stop_accepting.set();
        // Shutting the read side makes every connection see end-of-input after the requests it already has:
        // idle ones close at once, busy ones finish their batch, write the replies, then close. Each socket
        // is held past its task and half-closed there, so a request still on the wire is not reset.
        for (&id, &fd) in &self.connections.borrow().open {
            // SAFETY: the descriptor belongs to a connection still registered here, so it is open; shutdown(2)
            // does not close or invalidate it.
            unsafe { libc::shutdown(fd, libc::SHUT_RD) };
            self.lingering.borrow_mut().hold(id, fd);
        }
        let deadline = Instant::now() + self.config().timeouts.drain();
        while self.metrics.open_connections() > 0 && Instant::now() < deadline {
            self.sweep_lingering();
            glommio::timer::sleep(Duration::from_millis(2)).await;
        }
        let left = self.metrics.open_connections();
        if left > 0 {
            tracing::warn!(
                shard = self.id,
                connections = left,
                "drain deadline passed; closing the rest"
            );
        } else {
            tracing::debug!(shard = self.id, "drained");
        }
        self.tell(0, Op::Drained).await;
        // The successor may accept now; the sockets held wait for their clients until the deadline, and
        // the process exits after them (`Shard::lingered`).
        self.sweep_lingering();
        while !self.lingering.borrow().is_empty() && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(2)).await;
            self.sweep_lingering();
        }
        *self.lingering.borrow_mut() = Lingering::default();
        self.lingered.set();
    }

    fn sweep_lingering(&self) {
        let table = self.connections.borrow();
        self.lingering
            .borrow_mut()
            .sweep(|id| table.open.contains_key(&id));
    }

    /// Resolves once a drain started here has let go of the sockets it held; at once without a drain.
    pub async fn lingered(&self) {
        if self.draining.get() {
            self.lingered.wait().await;
        }
    }

    /// On shard 0: counts drained shards and, when all are, tells every shard to exit.
    fn peer_drained(self: &Rc<Self>) {
        self.drained_peers.set(self.drained_peers.get() + 1);
        if self.drained_peers.get() == self.count {
            if self.shared.handing_over.load(Ordering::Relaxed) {
                // The handoff (crate::handoff) writes services' state and stops the shards itself.
                self.all_drained.set();
                return;
            }
            let shard = self.clone();
            glommio::spawn_local(async move {
                for peer in (0..shard.count).filter(|&p| p != shard.id) {
                    shard.tell(peer, Op::Exit).await;
                }
                shard.exit.set();
            })
            .detach();
        }
    }
}
