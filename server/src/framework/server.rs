//! The [`Server`] builder and start-up: placement, preflight, listening sockets, the shard pool, and the
//! wait for shutdown.

use std::cell::Cell;
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::net::TcpListener;
use glommio::{Latency, LocalExecutorPoolBuilder, PoolPlacement, Shares};
use std::os::fd::FromRawFd;

use super::accept;
use super::catalog::Catalog;
use super::erased::{self, Make};
use super::service::{Context, Service};
use super::stall;
use crate::config::{Config, CpuList};
use crate::control;
use crate::error::ServerError;
use crate::handoff;
use crate::listener;
use crate::logging::{self, LogLevelHandle};
use crate::mesh::{Envelope, Reply};
use crate::nic;
use crate::placement;
use crate::preflight::{self, Observed, Severity};
use crate::shard::{Shard, Shared};
use crate::tls;

/// A server: the services it runs, registered in order, and the engine that runs them.
///
/// ```no_run
/// # use pincore_server::framework::{Connection, Server, Service};
/// struct Hello;
/// impl Service for Hello {
///     const NAME: &'static str = "hello";
///     type Settings = ();
///     async fn serve(&self, mut conn: Connection<Self>) {
///         let idle = conn.context().config().timeouts.idle();
///         let _ = conn.write(b"hello\n", idle).await;
///     }
/// }
/// std::process::exit(Server::new().service(|_| Hello).main());
/// ```
#[derive(Default)]
pub struct Server {
    catalog: Catalog,
    /// How to build each registered service on a shard, by service index.
    makers: Vec<Make>,
}

impl Server {
    pub fn new() -> Server {
        Server::default()
    }

    /// Registers a service: `make` builds its instance on each shard. Its listener is `services.<NAME>`.
    pub fn service<S: Service>(
        mut self,
        make: impl Fn(&Context<S>) -> S + Send + Sync + 'static,
    ) -> Server {
        let (spec, make) = erased::register(make);
        self.catalog.specs.push(spec);
        self.makers.push(make);
        self
    }

    /// The names of the registered services, in order.
    pub fn services(&self) -> Vec<&'static str> {
        self.catalog.names()
    }

    /// Validates configuration text for these services, their settings included (`check-config`).
    pub fn check_config(&self, text: &str, origin: &str) -> Result<Config, ServerError> {
        Ok(self.catalog.parse(text, origin)?.0)
    }

    /// Reads and validates a configuration file for these services.
    pub fn read_config(&self, path: &Path) -> Result<Config, ServerError> {
        Ok(self.catalog.read(path)?.0)
    }

    /// A small command line for programs built on the framework: `[--config FILE] [--handoff-socket PATH]
    /// [--upgrade-from PATH]` serves (the default configuration without `--config`; the other two as
    /// pincore-server's, README "Upgrades in place"), `check-config FILE` validates. Returns the exit code,
    /// the same as pincore-server's: 0 served or valid, 1 could not start or stopped on an error, 2 unusable
    /// command line, invalid configuration or unreadable file.
    pub fn main(self) -> i32 {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let usage =
            "usage: [--config FILE] [--handoff-socket PATH] [--upgrade-from PATH] | check-config FILE";
        let (mut check, mut path, mut handoff_socket, mut upgrade_from) = (false, None, None, None);
        let mut rest = args.iter().map(String::as_str);
        while let Some(arg) = rest.next() {
            let slot = match arg {
                "--config" => &mut path,
                "check-config" if args.len() == 2 => {
                    check = true;
                    &mut path
                }
                "--handoff-socket" => &mut handoff_socket,
                "--upgrade-from" => &mut upgrade_from,
                _ => {
                    eprintln!("{usage}");
                    return 2;
                }
            };
            let Some(value) = rest.next() else {
                eprintln!("{usage}");
                return 2;
            };
            *slot = Some(PathBuf::from(value));
        }
        // The TLS files are checked here too, so `check-config` finds a missing certificate.
        let config = match &path {
            Some(path) => self.read_config(path),
            None => self.check_config("", "<defaults>"),
        }
        .and_then(|config| tls::load_all(&config, &self.services()).map(|_| config));
        let config = match config {
            Ok(config) => config,
            Err(e) => {
                eprintln!("{e}");
                if let Some(from) = &upgrade_from {
                    handoff::refuse(from, &e.to_string());
                }
                return match e {
                    ServerError::ReadConfig(_)
                    | ServerError::Config { .. }
                    | ServerError::Tls { .. } => pincore_cli::exit::USAGE.into(),
                    _ => pincore_cli::exit::FAILURE.into(),
                };
            }
        };
        if check {
            println!(
                "{}: valid",
                path.map(|p| p.display().to_string()).unwrap_or_default()
            );
            return 0;
        }
        let log = match logging::init(&config.log) {
            Ok(log) => log,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        let options = Options {
            config,
            config_path: path,
            cpus_override: None,
            handoff_socket,
            upgrade_from,
        };
        match self.run(options, log) {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!(error = %e, "stopped");
                eprintln!("{e}");
                1
            }
        }
    }

    /// Runs the services until SIGTERM or SIGINT has drained them.
    pub fn run(self, options: Options, log: LogLevelHandle) -> Result<(), ServerError> {
        serve(self.catalog, self.makers, options, log)
    }
}

/// How to start the server.
pub struct Options {
    /// The validated configuration (see [`Config::from_yaml`] and [`Server::check_config`]).
    pub config: Config,
    /// The file it came from, re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// `--cpus`: replaces `shards.cpus`, also across reloads.
    pub cpus_override: Option<CpuList>,
    /// `--handoff-socket`: where a successor can take this server's listeners (README, "Upgrades in place").
    pub handoff_socket: Option<PathBuf>,
    /// `--upgrade-from`: take the listeners of the server running with this handoff socket instead of
    /// binding them.
    pub upgrade_from: Option<PathBuf>,
}

fn serve(
    catalog: Catalog,
    makers: Vec<Make>,
    options: Options,
    log: LogLevelHandle,
) -> Result<(), ServerError> {
    let mut config = options.config;
    let origin = options.config_path.as_ref().map_or_else(
        || "<configuration>".to_string(),
        |p| p.display().to_string(),
    );
    let settings = catalog.settings_of(&config, "", &origin)?;
    let tls = tls::load_all(&config, &catalog.names())?;
    if let Some(cpus) = &options.cpus_override {
        config.shards.cpus = cpus.clone();
    }
    let allowed = placement::allowed_cpus()?;
    let host = Path::new("/");
    let (cpus, nic_findings) = match &config.shards.nic {
        None => (
            placement::shard_cpus(&allowed, &config.shards.cpus)?,
            Vec::new(),
        ),
        Some(nic_config) => {
            let seen = nic::NicObserved::read(host, &nic_config.device)?;
            let cpus = nic::shard_cpus(&allowed, &config.shards.cpus, &seen.queues, nic_config)?;
            tracing::info!(device = %nic_config.device, mode = %nic_config.mode, irq_cpus = %nic::irq_cpus(&seen.queues), "placing shards by the device's queue interrupts");
            let findings = nic::findings(&seen, nic_config.mode, &cpus);
            (cpus, findings)
        }
    };
    let shards = cpus.len();

    let observed = Observed::read(host);
    let mut findings = preflight::findings(&config, shards, &observed);
    findings.extend(nic_findings);
    for f in &findings {
        match f.severity {
            Severity::Fatal => tracing::error!(fix = %f.fix, "preflight: {}", f.what),
            Severity::Warning => tracing::warn!(fix = %f.fix, "preflight: {}", f.what),
        }
    }
    if let Some(f) = findings.iter().find(|f| f.severity == Severity::Fatal) {
        return Err(ServerError::Preflight {
            what: f.what.clone(),
            fix: f.fix.clone(),
        });
    }

    let (sockets, predecessor) = match &options.upgrade_from {
        None => (listener::bind_all(&config, shards, &catalog.names())?, None),
        Some(path) => {
            let (sockets, predecessor) =
                handoff::take_listeners(path, &config, shards, &catalog.names())?;
            tracing::info!(from = %path.display(), "took the running server's listeners; accepting once it has handed over");
            (sockets, Some(predecessor))
        }
    };
    let held =
        match options.handoff_socket {
            None => None,
            Some(path) => Some(handoff::Held::new(path, allowed.clone(), &sockets).map_err(
                |e| ServerError::Executor(format!("cannot keep the listeners for a handoff: {e}")),
            )?),
        };
    if let Some(first) = sockets.first() {
        for (_, service, _, addr) in &first.sockets {
            tracing::info!(service = *service, %addr, "listening");
        }
    }
    let watches: Arc<[stall::Watch]> = (0..shards).map(|_| stall::Watch::default()).collect();
    let signals = control::install_signals()
        .map_err(|e| ServerError::Executor(format!("cannot install signal handlers: {e}")))?;
    let shared = Arc::new(Shared {
        cpus: cpus.clone(),
        listening: AtomicUsize::new(0),
        draining: AtomicBool::new(false),
        log,
        config_path: options.config_path,
        cpus_override: options.cpus_override,
        started: Instant::now(),
        signals: Mutex::new(Some(signals)),
        sockets: Mutex::new(sockets.into_iter().map(Some).collect()),
        catalog,
        settings,
        tls,
        // Fixed seeds: every shard must pick the same owner for a key; ownership only spreads work, so a
        // client aiming keys at one shard gains nothing it could not get by connecting there.
        owners: ahash::RandomState::with_seeds(0x7069_6e63, 0x6f72_6500, 0x6b65_7973, 0x6861_7368),
        watches: watches.clone(),
        accepting: AtomicBool::new(predecessor.is_none()),
        handing_over: AtomicBool::new(false),
        handoff: held,
        predecessor,
        config_version: std::sync::atomic::AtomicU64::new(0),
    });
    let stopped = Arc::new(AtomicBool::new(false));
    stall::start(watches, stopped.clone())
        .map_err(|e| ServerError::Executor(format!("cannot start the stall watchdog: {e}")))?;
    tracing::info!(shards, cpus = %CpuList::List(cpus.clone()), io_memory_bytes = config.shards.io_memory_bytes, "starting shards");

    let makers = Arc::new(makers);
    let requests: MeshBuilder<Envelope, _> = MeshBuilder::full(shards, config.shards.mesh_capacity);
    let replies: MeshBuilder<Reply, _> = MeshBuilder::full(shards, config.shards.mesh_capacity);
    let pool = LocalExecutorPoolBuilder::new(placement::pool_placement(&cpus)?)
        .name("pincore-shard")
        .io_memory(config.shards.io_memory_bytes)
        // Unpinned threads for blocking work (config file reads, services' `Context::spawn_blocking`).
        // Four: shard 0's signal wait and its handoff socket's accept each hold one for the life of the
        // server, and an upgrade asked for by SIGUSR2 holds one until it is over; with no thread left every
        // other blocking job of shard 0 would queue behind them.
        .blocking_thread_pool_placement(PoolPlacement::Unbound(4))
        .on_all_shards(move || run_shard(shared, makers, config, requests, replies))
        .map_err(|e| ServerError::Executor(e.to_string()))?;
    let mut failure = None;
    let results = pool.join_all();
    stopped.store(true, Ordering::Relaxed);
    for result in results {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(e.to_string()),
        }
    }
    match failure {
        Some(e) => Err(ServerError::Executor(e)),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// One shard's life: join the meshes, start the peer, sweep and accept tasks, wait for the exit message.
async fn run_shard(
    shared: Arc<Shared>,
    makers: Arc<Vec<Make>>,
    config: Config,
    requests: MeshBuilder<Envelope, glommio::channels::channel_mesh::Full>,
    replies: MeshBuilder<Reply, glommio::channels::channel_mesh::Full>,
) -> Result<(), String> {
    tracing::debug!(
        executor = glommio::executor().id(),
        "shard started; joining the channel meshes"
    );
    // glommio 0.9 loses the wake-up when the other end of a shared channel connects just before this
    // executor parks (the connection is only noticed when the reactor runs again), which under load left
    // shards waiting in the mesh join forever. A timer that ticks until the joins are done keeps the
    // reactor running.
    let joined = Rc::new(Cell::new(false));
    let ticking = joined.clone();
    glommio::spawn_local(async move {
        while !ticking.get() {
            glommio::timer::sleep(Duration::from_millis(2)).await;
        }
    })
    .detach();
    let (request_tx, mut request_rx) = requests
        .join()
        .await
        .map_err(|e| format!("joining the request mesh: {e}"))?;
    let (reply_tx, mut reply_rx) = replies
        .join()
        .await
        .map_err(|e| format!("joining the reply mesh: {e}"))?;
    joined.set(true);
    let id = request_tx.peer_id();
    tracing::debug!(shard = id, "joined the channel meshes");
    let executor = glommio::executor();
    let housekeeping =
        executor.create_task_queue(Shares::Static(50), Latency::NotImportant, "housekeeping");
    let shard = Rc::new(Shard::new(
        id,
        shared.clone(),
        config,
        request_tx,
        reply_tx,
        housekeeping,
    ));
    shard.queue_names.borrow_mut().extend([
        (executor.current_task_queue().index(), "default"),
        (housekeeping.index(), "housekeeping"),
    ]);

    for (peer, rx) in request_rx.streams() {
        glommio::spawn_local(shard.clone().serve_peer(peer, rx)).detach();
    }
    for (_, rx) in reply_rx.streams() {
        glommio::spawn_local(shard.clone().collect_replies(rx)).detach();
    }
    let instances: Vec<_> = makers
        .iter()
        .enumerate()
        .map(|(index, make)| make(shard.clone(), index))
        .collect();
    *shard.instances.borrow_mut() = instances;

    let sockets = shared
        .sockets
        .lock()
        .ok()
        .and_then(|mut all| all.get_mut(id).and_then(Option::take))
        .ok_or_else(|| format!("shard {id}: no listening sockets were prepared"))?;
    for (service, _, fd, _) in sockets.sockets {
        // SAFETY: the descriptor is a listening TCP socket created by listener::bind_all, and ownership moves
        // into the glommio listener here (into_raw_fd gives it up).
        let listener = unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) };
        glommio::spawn_local(accept::accept_loop(shard.clone(), service, listener)).detach();
    }
    let successor = shared.predecessor.is_some();
    if shared.listening.fetch_add(1, Ordering::Relaxed) + 1 == shared.shards() && !successor {
        tracing::info!("ready: every shard is listening");
        control::notify(sd_notify::NotifyState::Ready);
    }
    if id == 0 {
        glommio::spawn_local_into(control::signal_loop(shard.clone()), housekeeping)
            .map_err(|e| e.to_string())?
            .detach();
        // A successor serves the handoff socket itself once it has taken over.
        let handoff = if successor {
            handoff::take_over(shard.clone()).boxed_local()
        } else {
            handoff::control_loop(shard.clone()).boxed_local()
        };
        glommio::spawn_local_into(handoff, housekeeping)
            .map_err(|e| e.to_string())?
            .detach();
    }
    shard.exit.wait().await;
    shard.lingered().await;
    tracing::debug!(shard = id, "exiting");
    Ok(())
}
