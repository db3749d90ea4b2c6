//! Listener handoff: a running server gives its listening sockets to a successor, which serves on them
//! without a connection being refused or cut.
//!
//! The running server listens on a unix socket (`--handoff-socket PATH`). A successor started with
//! `--upgrade-from PATH` connects, receives every shard's listeners (`SCM_RIGHTS`, see [`wire`]), checks them
//! against its own configuration (same shard count, same addresses: else it refuses and says why), starts
//! its shards on them without accepting yet, and says it is ready. Only then does the old server stop
//! accepting, drain its connections and let each service write its state ([`crate::framework::Service::hand_over`])
//! into a directory beside the socket; it confirms, and exits. The successor loads that state
//! ([`crate::framework::Service::take_over`]) on every shard and starts accepting: connections that arrived
//! meanwhile waited in the listen backlog, which the two processes share. A successor that refuses, fails
//! or closes the socket before it is ready changes nothing: the old server keeps serving and logs why.
//!
//! Triggers: a successor started by hand with `--upgrade-from`, or `pincore-server upgrade --handoff-socket
//! PATH` (and SIGUSR2), which make the running server start its own successor — the same command line, so
//! the binary and configuration found at those paths now (a release's `current` link) — and report the
//! outcome. Under systemd the successor takes over as the unit's main process (`MAINPID=`).

mod held;
pub mod wire;

pub use held::{Held, Predecessor};

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::ServerError;
use crate::listener::ShardSockets;
use crate::mesh::Op;
use crate::shard::Shard;
use wire::{Message, Role};

/// How long a successor may take from being started to being ready (every shard running on the listeners).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long either end waits for a message it expects at once.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for services to write or read their state, beyond the old server's drain deadline.
const STATE_TIMEOUT: Duration = Duration::from_secs(120);

/// The directory services' state passes through: beside the handoff socket, only the server's user may read it.
fn state_dir(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".state");
    PathBuf::from(name)
}

/// Successor side, before any shard starts: connects to the running server at `path`, takes its listeners
/// and checks them against `config` (enabled services of `services`, by service index) and `shards`. A
/// mismatch is refused (the old server logs the reason and keeps serving) and returned.
pub fn take_listeners(
    path: &Path,
    config: &Config,
    shards: usize,
    services: &[&'static str],
) -> Result<(Vec<ShardSockets>, Predecessor), ServerError> {
    let failed = |what: String| ServerError::Handoff(format!("{}: {what}", path.display()));
    let mut stream = UnixStream::connect(path).map_err(|e| {
        failed(format!(
            "cannot connect ({e}); is a server running with --handoff-socket {}?",
            path.display()
        ))
    })?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| failed(e.to_string()))?;
    let hello = Message::Hello {
        role: Role::Successor,
        pid: std::process::id(),
    };
    wire::send(&mut stream, &hello).map_err(|e| failed(format!("saying hello: {e}")))?;
    let (offer, _) = wire::receive(&mut stream)
        .map_err(|e| failed(format!("waiting for the listeners: {e}")))?;
    let Message::Offer {
        shards: offered_shards,
        listeners,
        drain_ms,
        state_dir,
    } = offer
    else {
        return Err(failed(format!("expected the listeners, got {offer:?}")));
    };
    let fds = wire::receive_fds(&mut stream, listeners.len())
        .map_err(|e| failed(format!("receiving the listeners: {e}")))?;
    let wanted: Vec<(&str, std::net::SocketAddr)> = services
        .iter()
        .filter_map(|&name| {
            let service = config.services.get(name)?;
            service.enabled.then_some((name, service.listen))
        })
        .collect();
    if let Err(reason) = wire::check_offer(&listeners, offered_shards, &wanted, shards) {
        let _ = wire::send(
            &mut stream,
            &Message::Refused {
                reason: reason.clone(),
            },
        );
        return Err(failed(format!("refused: {reason}")));
    }
    let mut sockets: Vec<ShardSockets> = (0..shards).map(|_| ShardSockets::default()).collect();
    for (offered, fd) in listeners.into_iter().zip(fds) {
        // check_offer proved every offered service is one of ours and every shard index below `shards`.
        let Some(index) = services.iter().position(|s| *s == offered.service) else {
            continue;
        };
        if let Some(shard) = sockets.get_mut(offered.shard) {
            shard
                .sockets
                .push((index, services[index], fd, offered.addr));
        }
    }
    Ok((
        sockets,
        Predecessor {
            stream: Mutex::new(Some(stream)),
            drain: Duration::from_millis(drain_ms),
            state_dir,
        },
    ))
}

/// Successor side, when it cannot start at all (its configuration is not valid): tells the running server
/// at `path` why, so that the server that stays logs it too. Best effort: the caller reports the error anyway.
pub fn refuse(path: &Path, reason: &str) {
    let attempt = || -> std::io::Result<()> {
        let mut stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        let hello = Message::Hello {
            role: Role::Successor,
            pid: std::process::id(),
        };
        wire::send(&mut stream, &hello)?;
        if let (Message::Offer { listeners, .. }, _) = wire::receive(&mut stream)? {
            // Taken only to be closed: the protocol sends them before the successor may answer.
            drop(wire::receive_fds(&mut stream, listeners.len())?);
        }
        wire::send(
            &mut stream,
            &Message::Refused {
                reason: reason.to_string(),
            },
        )
    };
    if let Err(e) = attempt() {
        tracing::debug!(error = %e, "could not tell the running server why this one does not start");
    }
}

/// Trigger side (`pincore-server upgrade`): asks the server at `path` to start its successor and hand over.
/// Returns the successor's process id, or why the handoff was rolled back.
pub fn request_upgrade(path: &Path) -> Result<u32, String> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot connect to {} ({e}); is a server running with --handoff-socket {}?",
            path.display(),
            path.display()
        )
    })?;
    let hello = Message::Hello {
        role: Role::Trigger,
        pid: std::process::id(),
    };
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    // The successor's start, the old server's drain and both sides' state all happen before the answer.
    stream
        .set_read_timeout(Some(START_TIMEOUT + STATE_TIMEOUT * 2))
        .map_err(io)?;
    wire::send(&mut stream, &hello).map_err(io)?;
    match wire::receive(&mut stream).map_err(io)?.0 {
        Message::Upgraded { pid } => Ok(pid),
        Message::RolledBack { reason } => Err(reason),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Old side, on shard 0: serves the handoff socket until a handoff succeeds. Started only with
/// `--handoff-socket`.
pub async fn control_loop(shard: Rc<Shard>) {
    let Some(held) = shard.shared.handoff.as_ref() else {
        return;
    };
    let listener = match bind(&held.socket) {
        Ok(listener) => Arc::new(listener),
        Err(e) => {
            tracing::error!(socket = %held.socket.display(), error = %e, "cannot listen on the handoff socket; upgrades in place are off");
            return;
        }
    };
    tracing::info!(socket = %held.socket.display(), "handoff socket listening");
    loop {
        let waiting = listener.clone();
        let accepted = glommio::executor()
            .spawn_blocking(move || -> std::io::Result<(UnixStream, Message)> {
                let (mut stream, _) = waiting.accept()?;
                stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
                let (hello, _) = wire::receive(&mut stream)?;
                Ok((stream, hello))
            })
            .await;
        let outcome = match accepted {
            Err(e) => {
                tracing::warn!(error = %e, "handoff socket: a connection failed before saying who it is");
                continue;
            }
            Ok((
                stream,
                Message::Hello {
                    role: Role::Successor,
                    pid,
                },
            )) => hand_over(&shard, stream, pid).await.map(|()| pid),
            Ok((
                mut trigger,
                Message::Hello {
                    role: Role::Trigger,
                    ..
                },
            )) => {
                let outcome = upgrade(&shard, listener.clone()).await;
                let answer = match &outcome {
                    Ok(pid) => Message::Upgraded { pid: *pid },
                    Err(reason) => Message::RolledBack {
                        reason: reason.clone(),
                    },
                };
                let _ = glommio::executor()
                    .spawn_blocking(move || wire::send(&mut trigger, &answer))
                    .await;
                outcome
            }
            Ok((_, other)) => {
                tracing::warn!(message = ?other, "handoff socket: unexpected first message; connection closed");
                continue;
            }
        };
        match outcome {
            Ok(pid) => {
                tracing::info!(successor = pid, "handed over to the successor; exiting");
                exit(&shard).await;
                return;
            }
            Err(reason) => {
                tracing::error!(%reason, "handoff rolled back; this server keeps serving");
            }
        }
    }
}

/// Binds the handoff socket, replacing a file left at the path (by a server that exited, or by this
/// server's predecessor), readable and writable by the server's user only.
fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// SIGUSR2: the same as `pincore-server upgrade` on this server's own handoff socket.
pub async fn upgrade_on_signal(shard: &Rc<Shard>) {
    let Some(held) = shard.shared.handoff.as_ref() else {
        tracing::warn!(
            "SIGUSR2: no handoff socket (start with --handoff-socket PATH); nothing to do"
        );
        return;
    };
    let path = held.socket.clone();
    glommio::spawn_local(async move {
        let outcome = glommio::executor()
            .spawn_blocking(move || request_upgrade(&path))
            .await;
        if let Err(reason) = outcome {
            tracing::error!(%reason, "SIGUSR2: upgrade in place failed");
        }
    })
    .detach();
}

/// The command line that starts this server's successor: this one's, pointed at the handoff socket.
fn successor_command(socket: &Path, allowed: &[usize]) -> Command {
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_else(|| "pincore-server".into());
    let mut command = Command::new(program);
    command.arg("--upgrade-from").arg(socket);
    let mut mask = nix::sched::CpuSet::new();
    for &cpu in allowed {
        let _ = mask.set(cpu);
    }
    // SAFETY: between fork and exec only sched_setaffinity(2) runs, a plain system call on a mask built
    // before the fork: nothing allocates or takes a lock.
    unsafe {
        command.pre_exec(move || {
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &mask)
                .map_err(std::io::Error::from)
        });
    }
    let mut rest = args.peekable();
    while let Some(arg) = rest.next() {
        if arg == "--upgrade-from" {
            rest.next();
        } else if !arg.to_string_lossy().starts_with("--upgrade-from=") {
            command.arg(arg);
        }
    }
    command
}

/// Old side: starts the successor, waits for it on the handoff socket and hands over. Returns its pid.
async fn upgrade(shard: &Rc<Shard>, listener: Arc<UnixListener>) -> Result<u32, String> {
    let held = shard.shared.handoff.as_ref().ok_or("no handoff socket")?;
    let mut command = successor_command(&held.socket, &held.allowed);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start the successor {command:?}: {e}"))?;
    let pid = child.id();
    tracing::info!(successor = pid, command = ?command, "started the successor; waiting for it to take the listeners");
    let (child, connected) = glommio::executor()
        .spawn_blocking(move || {
            let mut child = child;
            let connected = wait_for_successor(&listener, &mut child, pid);
            (child, connected)
        })
        .await;
    let outcome = match connected {
        Ok(stream) => hand_over(shard, stream, pid).await,
        Err(reason) => Err(reason),
    };
    if outcome.is_err() {
        // The successor exits on its own once it has refused or failed; reap it, so it leaves no zombie.
        reap(child);
    }
    outcome.map(|()| pid)
}

/// Waits until the child `pid` connects as a successor, or exits, or takes longer than START_TIMEOUT.
fn wait_for_successor(
    listener: &UnixListener,
    child: &mut Child,
    pid: u32,
) -> Result<UnixStream, String> {
    let io = |e: std::io::Error| format!("handoff socket: {e}");
    listener.set_nonblocking(true).map_err(io)?;
    let started = Instant::now();
    let result = loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).map_err(io)?;
                stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
                match wire::receive(&mut stream) {
                    Ok((
                        Message::Hello {
                            role: Role::Successor,
                            ..
                        },
                        _,
                    )) => break Ok(stream),
                    // Someone else (a second trigger): not now.
                    _ => continue,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => break Err(io(e)),
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!(
                "the successor (pid {pid}) exited with {status} before taking the listeners; its log says why"
            ));
        }
        if started.elapsed() > START_TIMEOUT {
            break Err(format!(
                "the successor (pid {pid}) did not connect within {} s",
                START_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    listener.set_nonblocking(false).map_err(io)?;
    result
}

fn reap(mut child: Child) {
    let reaping = glommio::executor().spawn_blocking(move || {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    });
    glommio::spawn_local(reaping).detach();
}

/// Old side: offers the listeners to the successor `pid` on `stream`; once it is ready, drains, has every
/// service write its state, confirms and stops every shard. Any failure before the successor is ready
/// changes nothing here.
async fn hand_over(shard: &Rc<Shard>, stream: UnixStream, pid: u32) -> Result<(), String> {
    let held = shard.shared.handoff.as_ref().ok_or("no handoff socket")?;
    let dir = state_dir(&held.socket);
    let raw: Vec<RawFd> = held
        .fds
        .lock()
        .map_err(|_| "the listening sockets' lock is poisoned")?
        .iter()
        .map(AsRawFd::as_raw_fd)
        .collect();
    let offer = Message::Offer {
        shards: shard.count,
        listeners: held.listeners.clone(),
        drain_ms: shard.config().timeouts.drain_ms,
        state_dir: dir.clone(),
    };
    tracing::info!(
        successor = pid,
        listeners = raw.len(),
        "handing the listeners to a successor"
    );
    let (mut stream, answer) = glommio::executor()
        .spawn_blocking(move || {
            let mut stream = stream;
            let answer = offer_listeners(&mut stream, &offer, &raw);
            (stream, answer)
        })
        .await;
    answer?;
    tracing::info!(
        successor = pid,
        "the successor is ready; stop accepting, drain, hand over state"
    );
    shard.shared.handing_over.store(true, Ordering::Relaxed);
    for target in 0..shard.count {
        shard.tell(target, Op::Drain).await;
    }
    shard.all_drained.wait().await;
    let failures = match prepare(&dir) {
        Ok(()) => shard.services_state(true, &dir).await,
        Err(e) => vec![format!("state directory {}: {e}", dir.display())],
    };
    for failure in &failures {
        tracing::error!(%failure, "a service's state was not handed over");
    }
    let sent = glommio::executor()
        .spawn_blocking(move || wire::send(&mut stream, &Message::Done { failures }))
        .await;
    if let Err(e) = sent {
        tracing::error!(error = %e, "could not confirm the handoff to the successor");
    }
    Ok(())
}

/// Old side, after a handoff (and the answer to its trigger): stops every shard.
async fn exit(shard: &Rc<Shard>) {
    for peer in (0..shard.count).filter(|&p| p != shard.id) {
        shard.tell(peer, Op::Exit).await;
    }
    shard.exit.set();
}

/// Sends the offer and the descriptors, and waits for the successor to be ready or refuse.
fn offer_listeners(stream: &mut UnixStream, offer: &Message, fds: &[RawFd]) -> Result<(), String> {
    let sent = wire::send(stream, offer).and_then(|()| wire::send_fds(stream, fds));
    stream
        .set_read_timeout(Some(START_TIMEOUT))
        .map_err(|e| e.to_string())?;
    // Read even after a failed send: a successor that refused early has left its reason to read.
    match wire::receive(stream) {
        Ok((Message::Ready, _)) if sent.is_ok() => Ok(()),
        Ok((Message::Refused { reason }, _)) => Err(format!("the successor refused: {reason}")),
        Ok((other, _)) => Err(format!("the successor sent {other:?} instead of being ready")),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(
            "the successor closed the handoff socket before it was ready (it failed to start; its log says why)"
                .to_string(),
        ),
        Err(e) => Err(format!("waiting for the successor: {e}")),
    }
}

/// An empty directory for services' state, readable by the server's user only.
fn prepare(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Successor side, on shard 0 once every shard runs: tells the old server it is ready, waits for it to
/// drain and write its state, has every service load that state, then lets every shard accept.
pub async fn take_over(shard: Rc<Shard>) {
    let Some(predecessor) = shard.shared.predecessor.as_ref() else {
        return;
    };
    let started = Instant::now();
    while shard.shared.listening.load(Ordering::Relaxed) < shard.count
        && started.elapsed() < START_TIMEOUT
    {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    let stream = predecessor.stream.lock().ok().and_then(|mut s| s.take());
    let wait = predecessor.drain + STATE_TIMEOUT;
    let done = match stream {
        None => Err("no connection to the running server".to_string()),
        Some(mut stream) => {
            glommio::executor()
                .spawn_blocking(move || -> Result<Vec<String>, String> {
                    wire::send(&mut stream, &Message::Ready).map_err(|e| e.to_string())?;
                    stream
                        .set_read_timeout(Some(wait))
                        .map_err(|e| e.to_string())?;
                    match wire::receive(&mut stream).map_err(|e| e.to_string())?.0 {
                        Message::Done { failures } => Ok(failures),
                        other => Err(format!("unexpected {other:?}")),
                    }
                })
                .await
        }
    };
    match done {
        Ok(failures) => {
            for failure in failures {
                tracing::warn!(%failure, "the old server could not hand over a service's state");
            }
            let dir = &predecessor.state_dir;
            for failure in shard.services_state(false, dir).await {
                tracing::error!(%failure, "a service could not take over its state");
            }
            let _ = std::fs::remove_dir_all(dir);
        }
        Err(reason) => {
            tracing::warn!(%reason, "the old server did not confirm the handoff; serving without its state");
        }
    }
    shard.shared.accepting.store(true, Ordering::Relaxed);
    tracing::info!("ready: took over the listeners; every shard is accepting");
    // This process is the unit's main one from now on (with NotifyAccess=all, README "Upgrades in place").
    let states = [
        sd_notify::NotifyState::MainPid(std::process::id()),
        sd_notify::NotifyState::Ready,
    ];
    if let Err(e) = sd_notify::notify(false, &states) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
    control_loop(shard).await;
}
