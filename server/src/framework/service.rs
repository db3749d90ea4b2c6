//! The API a service is written against: the [`Service`] trait, what it sees of its shard ([`Context`]) and of
//! one accepted connection ([`Connection`]). They name each other, so they live together; how the engine
//! holds services of different types is `erased.rs`, below them the shard (`crate::shard`).

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use glommio::GlommioError;

use super::catalog::AdmissionClass;
use super::deadline::ReadDeadline;
use super::settings::Settings;
use super::stream::Stream;
use crate::config::Config;
use crate::mesh::{Job, Op, Outcome, Ticket};
use crate::metrics::{Counter, Histogram, ShardSnapshot};
use crate::shard::{Admission, RawConnection, Shard};

/// A TCP service the engine runs on every shard: one instance per shard, one call of [`Service::serve`] per
/// accepted connection.
///
/// Instances are shard-local (`Rc`, `Cell` and `RefCell` are fine and need no locks): the engine builds one
/// on each shard with the factory given to [`super::Server::service`]. What the shards share (a store, say)
/// the factory captures in an `Arc`.
#[allow(async_fn_in_trait)] // services are shard-local: their futures are never sent to another thread
pub trait Service: Sized + 'static {
    /// The name: `services.<NAME>` in the configuration, the `service` label in metrics.
    const NAME: &'static str;
    /// How connections are admitted (data ports by default).
    const ADMISSION: AdmissionClass = AdmissionClass::Data;
    /// This service's own configuration section (`()` for none).
    type Settings: Settings;

    /// Handles one accepted connection until it should close. A panic closes this connection only (it is
    /// counted in `pincore_service_panics_total`); the shard keeps serving.
    async fn serve(&self, conn: Connection<Self>);

    /// Called on every shard after SIGHUP brought a new, valid value of [`Service::Settings`];
    /// [`Context::settings`] already returns it.
    fn on_reload(&self, _settings: &Self::Settings) {}

    /// Called on every shard of a server that hands its listeners to a successor (`--upgrade-from`, see
    /// README "Upgrades in place"), after this shard stopped accepting and its connections drained: write
    /// what the successor should continue with into `dir`, this service's own empty directory for this
    /// shard. An error is logged by both servers; the handoff goes on.
    async fn hand_over(&self, _dir: &Path) -> Result<(), String> {
        Ok(())
    }

    /// Called on every shard of the successor before it accepts a connection, with the directory this
    /// shard's predecessor instance wrote in [`Service::hand_over`] (only if it exists). The shard count is
    /// the same on both sides, so shard `n` reads what shard `n` wrote.
    async fn take_over(&self, _dir: &Path) -> Result<(), String> {
        Ok(())
    }
}

/// A job for another shard did not complete: that shard is shutting down, or the job panicked there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a shard is unavailable (the server is shutting down, or the job failed there)")]
pub struct Unavailable;

/// A service's view of the shard it runs on. Cheap to clone; shard-local.
pub struct Context<S> {
    pub(crate) shard: Rc<Shard>,
    pub(crate) index: usize,
    _service: PhantomData<fn() -> S>,
}

impl<S> Clone for Context<S> {
    fn clone(&self) -> Self {
        Context {
            shard: self.shard.clone(),
            index: self.index,
            _service: PhantomData,
        }
    }
}

impl<S: Service> Context<S> {
    pub(crate) fn new(shard: Rc<Shard>, index: usize) -> Context<S> {
        Context {
            shard,
            index,
            _service: PhantomData,
        }
    }

    /// This shard's index, 0-based.
    pub fn shard_id(&self) -> usize {
        self.shard.id
    }

    /// How many shards the server runs.
    pub fn shards(&self) -> usize {
        self.shard.count
    }

    /// The CPU this shard is pinned to.
    pub fn cpu(&self) -> usize {
        self.shard.cpu
    }

    /// The service's own settings as they are now (a SIGHUP may replace them between two calls).
    pub fn settings(&self) -> Arc<S::Settings> {
        let any = self.shard.settings_of(self.index);
        // The engine stores each service's settings as parsed by that service's own `Settings` type.
        any.downcast::<S::Settings>()
            .unwrap_or_else(|_| Arc::new(S::Settings::default()))
    }

    /// The server's running configuration: limits and timeouts change live on SIGHUP.
    pub fn config(&self) -> Rc<Config> {
        self.shard.config()
    }

    /// Changes the running configuration as a SIGHUP reload would, without a file: `change` edits a copy of
    /// the running configuration and of this service's settings; the result is checked exactly as a
    /// reloaded file is (every service's settings included) and its live parts — limits, timeouts, log
    /// level, services' settings — are applied on every shard, [`Service::on_reload`] included. A change
    /// that is invalid, or that touches what needs a restart (listeners, shards, log format), is refused
    /// with the reason and changes nothing. The configuration file is not written: the next SIGHUP
    /// re-reads it.
    pub async fn reconfigure(
        &self,
        change: impl FnOnce(&mut Config, &mut S::Settings),
    ) -> Result<(), String> {
        let mut config = (*self.config()).clone();
        let mut settings = (*self.settings()).clone();
        change(&mut config, &mut settings);
        let value = serde_yaml::to_value(&settings).map_err(|e| e.to_string())?;
        if let Some(section) = config.services.get_mut(S::NAME) {
            section.settings = value;
        }
        crate::control::reconfigure(&self.shard, config).await
    }

    /// Replaces the whole running configuration with `text` (YAML or JSON, named `origin` in errors) as a
    /// SIGHUP reload of a file with that text would: checked whole, every service's settings included;
    /// refused, changing nothing, when it is invalid or changes what needs a restart (named in
    /// [`Refused::NeedsRestart`]). With `persist`, the configuration file is replaced (atomically, synced
    /// to disk) before anything is applied, so a write that fails changes nothing either. Returns the
    /// configuration now running on every shard.
    pub async fn replace_config(
        &self,
        text: &str,
        origin: &str,
        persist: bool,
    ) -> Result<Config, crate::control::Refused> {
        crate::control::replace(&self.shard, text, origin, persist).await
    }

    /// The server is draining: the service should finish the request at hand and close.
    pub fn draining(&self) -> bool {
        self.shard.draining()
    }

    /// Resolves once draining has begun (the read side of every connection is shut at the same moment).
    pub async fn drained(&self) {
        self.shard.stop_accepting.wait().await
    }

    /// The shard has been told to exit: housekeeping loops should stop.
    pub fn exiting(&self) -> bool {
        self.shard.exit.is_set()
    }

    /// Every shard listens and shutdown has not begun.
    pub fn ready(&self) -> bool {
        self.shard.shared.ready()
    }

    /// When the server started.
    pub fn started(&self) -> Instant {
        self.shard.shared.started
    }

    /// The shard that owns `key`: the same on every shard for the life of the process.
    pub fn owner_of(&self, key: &[u8]) -> usize {
        self.shard.shared.owner_of(key)
    }

    /// Runs `job` on `shard` with that shard's instance of this service, and returns what it returns.
    /// The message is the closure: what it captures travels to the other shard (so it must be `Send`),
    /// the future it makes runs there. A job that panics is contained there and reported as
    /// [`Unavailable`].
    pub async fn on_shard<R, F, Fut>(&self, shard: usize, job: F) -> Result<R, Unavailable>
    where
        F: FnOnce(Rc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let ticket = self.send(shard, job).await;
        Self::receive(ticket.await)
    }

    /// [`Context::on_shard`] on the shard that owns `key` ([`Context::owner_of`]).
    pub async fn on_owner<R, F, Fut>(&self, key: &[u8], job: F) -> Result<R, Unavailable>
    where
        F: FnOnce(Rc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        self.on_shard(self.owner_of(key), job).await
    }

    /// [`Context::on_shard`] on every shard, replies in shard order. Every other shard gets its job before
    /// this one runs its own, so they run at the same time.
    pub async fn on_every_shard<R, F, Fut>(
        &self,
        job: impl Fn() -> F,
    ) -> Vec<Result<R, Unavailable>>
    where
        F: FnOnce(Rc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let here = self.shard_id();
        let mut tickets: Vec<Option<Ticket>> = (0..self.shards()).map(|_| None).collect();
        for shard in (0..self.shards()).filter(|&s| s != here) {
            tickets[shard] = Some(self.send(shard, job()).await);
        }
        tickets[here] = Some(self.send(here, job()).await);
        let mut replies = Vec::with_capacity(tickets.len());
        for ticket in tickets.into_iter().flatten() {
            replies.push(Self::receive(ticket.await));
        }
        replies
    }

    /// Sends `job` to `shard` (runs it, when that is this shard) and returns the ticket of its reply.
    async fn send<R, F, Fut>(&self, shard: usize, job: F) -> Ticket
    where
        F: FnOnce(Rc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let job: Job = Box::new(move |service: Rc<dyn Any>| {
            Box::pin(async move {
                // The engine hands each job the instance of the service that sent it (same index).
                match service.downcast::<S>() {
                    Ok(service) => {
                        let reply: Box<dyn Any + Send> = Box::new(job(service).await);
                        Some(reply)
                    }
                    Err(_) => None,
                }
            })
        });
        let op = Op::Run {
            service: self.index,
            job,
        };
        self.shard.call(shard, op).await
    }

    fn receive<R: 'static>(outcome: Outcome) -> Result<R, Unavailable> {
        match outcome {
            Outcome::Ran(Some(reply)) => reply.downcast::<R>().map(|r| *r).map_err(|_| Unavailable),
            _ => Err(Unavailable),
        }
    }

    /// Runs blocking work (file reads, DNS, a synchronous library) on the shard's blocking pool, so the
    /// shard keeps serving meanwhile.
    pub async fn spawn_blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> R {
        glommio::executor().spawn_blocking(work).await
    }

    /// Runs `task` in the shard's low-share housekeeping queue (sweeps, refreshes): it yields to connections.
    /// A panic ends the task (logged and counted as this service's), not the shard.
    pub fn spawn_housekeeping(&self, task: impl Future<Output = ()> + 'static) {
        let shard = self.shard.clone();
        let index = self.index;
        let contained = async move {
            if std::panic::AssertUnwindSafe(task)
                .catch_unwind()
                .await
                .is_err()
            {
                shard.metrics.panicked(index);
                tracing::error!(
                    shard = shard.id,
                    service = S::NAME,
                    "housekeeping task panicked; it is stopped, the shard keeps serving"
                );
            }
        };
        match glommio::spawn_local_into(contained, self.shard.housekeeping) {
            Ok(task) => {
                task.detach();
            }
            Err(e) => {
                tracing::error!(shard = self.shard.id, service = S::NAME, error = %e, "cannot start housekeeping task")
            }
        }
    }

    /// Registers a counter of this shard; it appears in `/metrics` per shard and in total.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        self.shard.metrics.counter(name, help, labels)
    }

    /// Registers a latency histogram of this shard; `/metrics` merges it over shards.
    pub fn histogram(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Histogram {
        self.shard.metrics.histogram(name, help, labels)
    }

    /// Registers a gauge read at each scrape on this shard.
    pub fn gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        read: impl Fn() -> u64 + 'static,
    ) {
        self.shard.metrics.gauge(name, help, labels, read)
    }

    /// Counts an error by reason in `pincore_errors_total` (a stable snake_case label).
    pub fn error(&self, reason: &'static str) {
        self.shard.metrics.error(reason)
    }

    /// Every shard's metrics now, in shard order.
    pub async fn snapshots(&self) -> Result<Vec<ShardSnapshot>, Unavailable> {
        self.reachable_snapshots()
            .await
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or(Unavailable)
    }

    /// Every shard's metrics in Prometheus text format (what the admin service serves as `/metrics`); a
    /// shard that cannot be reached (shutting down) is left out.
    pub async fn render_metrics(&self) -> String {
        let snapshots: Vec<ShardSnapshot> = self
            .reachable_snapshots()
            .await
            .into_iter()
            .flatten()
            .collect();
        crate::metrics::render(&snapshots, self.ready())
    }

    async fn reachable_snapshots(&self) -> Vec<Option<ShardSnapshot>> {
        let tickets = self.shard.broadcast(|| Op::Snapshot).await;
        let mut snapshots = Vec::with_capacity(tickets.len());
        for ticket in tickets {
            snapshots.push(match ticket.await {
                Outcome::Snapshot(s) => Some(*s),
                _ => None,
            });
        }
        snapshots
    }
}

/// Why a bounded read or write did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("timed out")]
    TimedOut,
    /// A bounded buffer is full (see [`super::InputBuffer`]).
    #[error("request larger than the buffer's limit")]
    TooLarge,
    #[error(transparent)]
    Io(std::io::Error),
}

/// One accepted connection: the stream (plain TCP, or TLS when the service's section has `tls:`; the
/// handshake is done before [`Service::serve`] is called), its peer, and the counters and deadlines the
/// engine keeps for it. Dropping it closes the socket and releases its admission slot.
pub struct Connection<S> {
    ctx: Context<S>,
    stream: Stream,
    peer: IpAddr,
    admission: Admission,
}

impl<S: Service> Connection<S> {
    pub(crate) fn new(raw: RawConnection) -> Connection<S> {
        Connection {
            ctx: Context::new(raw.shard, raw.index),
            stream: raw.stream,
            peer: raw.peer,
            admission: raw.admission,
        }
    }

    pub fn context(&self) -> &Context<S> {
        &self.ctx
    }

    /// The peer's address.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// The stream itself, for protocols that read with their own deadline ([`Connection::read_deadline`]).
    /// Bytes read or written this way are counted with [`Connection::count_in`] / [`Connection::count_out`];
    /// on TLS a write must be followed by a flush.
    pub fn stream(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Reads once into `buf`, giving up after `within`; `Ok(0)` is end of input. Counts the bytes.
    pub async fn read(&mut self, buf: &mut [u8], within: Duration) -> Result<usize, ReadError> {
        let n = read_within(&mut self.stream, buf, within).await?;
        self.count_in(n);
        Ok(n)
    }

    /// Writes all of `data`, giving up after `within` (a client that stops reading). Counts the bytes.
    pub async fn write(&mut self, data: &[u8], within: Duration) -> Result<(), ReadError> {
        write_within(&mut self.stream, data, within).await?;
        self.count_out(data.len());
        Ok(())
    }

    pub fn count_in(&self, n: usize) {
        self.ctx.shard.metrics.bytes_in(self.ctx.index, n);
    }

    pub fn count_out(&self, n: usize) {
        self.ctx.shard.metrics.bytes_out(self.ctx.index, n);
    }

    /// A watchdog that ends this connection's reads at a deadline, moved per read at no cost: for protocols
    /// that read on [`Connection::stream`] in a hot loop (see [`ReadDeadline`]).
    pub fn read_deadline(&self, at: Instant) -> ReadDeadline {
        ReadDeadline::new(self.stream.as_raw_fd(), at)
    }

    /// Marks the connection idle (waiting for a request) or busy: at the caps of an
    /// [`AdmissionClass::Control`] service the longest-idle connection makes room for a new one.
    pub fn set_idle(&self, idle: bool) {
        if S::ADMISSION == AdmissionClass::Control {
            self.ctx.shard.admin_idle(&self.admission, idle);
        }
    }
}

/// Reads once into `buf`, giving up after `limit`. `Ok(0)` is end of input.
///
/// A timer per read: glommio's own `set_read_timeout` misbehaves when a read future is dropped.
pub async fn read_within(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut [u8],
    limit: Duration,
) -> Result<usize, ReadError> {
    let read = glommio::timer::timeout(limit, async {
        stream.read(buf).await.map_err(GlommioError::from)
    })
    .await;
    match read {
        Ok(n) => Ok(n),
        Err(GlommioError::TimedOut(_)) => Err(ReadError::TimedOut),
        Err(e) => Err(ReadError::Io(e.into())),
    }
}

/// Writes all of `data` and flushes it (a TLS stream keeps records it could not send yet; on plain TCP the
/// flush does nothing), giving up after `limit` (a client that stops reading its replies).
pub async fn write_within(
    stream: &mut (impl AsyncWrite + Unpin),
    data: &[u8],
    limit: Duration,
) -> Result<(), ReadError> {
    let write = glommio::timer::timeout(limit, async {
        stream.write_all(data).await.map_err(GlommioError::from)?;
        stream.flush().await.map_err(GlommioError::from)
    })
    .await;
    match write {
        Ok(()) => Ok(()),
        Err(GlommioError::TimedOut(_)) => Err(ReadError::TimedOut),
        Err(e) => Err(ReadError::Io(e.into())),
    }
}
