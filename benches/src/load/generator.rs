//! The load generator: client threads, each pinned to a CPU and running its own epoll loop over a group of
//! connections, closed loop (a fixed number of requests in flight per connection) or open loop (requests
//! sent on a fixed schedule, latency measured from each request's intended send time).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use pincore_resp::Limits;

use crate::error::{BenchError, Result};
use crate::load::connection::{Connection, ReadOutcome, State};
use crate::load::latency;
use crate::load::report::{Counters, RunReport};
use crate::load::spec::LoadSpec;
use crate::load::timer::Timer;
use crate::load::workload::Rng;

/// Most requests one connection may have in flight in open loop; later ones wait (their latency still
/// counts from their intended send time).
const OPEN_LOOP_MAX_IN_FLIGHT: usize = 10_000;
/// After an error, wait this long before reconnecting (a server that is down is not hammered).
const RECONNECT_DELAY_NS: u64 = 10_000_000;
/// How often a thread looks for timed-out requests and sends progress.
const HOUSEKEEPING_NS: u64 = 10_000_000;
const PROGRESS_NS: u64 = 1_000_000_000;
/// The open-loop timer's token.
const TIMER: Token = Token(usize::MAX);

/// A sample for the live progress line, sent by each thread about once a second.
pub struct Progress {
    /// Which client thread sent it (0-based).
    pub thread: usize,
    /// That thread's replies so far, warm-up included.
    pub completed: u64,
    pub interval: Histogram<u64>,
}

/// Runs `spec` to completion (or until `stop` is set) and merges the threads' histograms and counters.
///
/// `progress`, when given, receives a [`Progress`] from every thread about once a second.
pub fn run(
    spec: &LoadSpec,
    stop: &AtomicBool,
    progress: Option<mpsc::Sender<Progress>>,
) -> Result<RunReport> {
    spec.validate()?;
    let threads = spec.threads.min(spec.connections);
    let epoch = Instant::now();
    let outcomes: Vec<Result<ThreadOutcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                // Connections are dealt out as evenly as possible: thread t gets indices t, t+threads, ...
                let ids: Vec<usize> = (t..spec.connections).step_by(threads).collect();
                let cpu = spec.cpus.as_ref().map(|c| c[t % c.len()]);
                let progress = progress.clone();
                scope.spawn(move || client_thread(spec, t, ids, cpu, epoch, stop, progress))
            })
            .collect();
        drop(progress);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::failed("client thread", "panicked")))
            })
            .collect()
    });
    let mut histogram = latency::histogram();
    let mut counters = Counters::default();
    let mut all_replies = 0;
    let mut connect_failures = 0;
    let mut connect_error = None;
    for outcome in outcomes {
        let outcome = outcome?;
        all_replies += outcome.all_replies;
        connect_failures += outcome.connect_failures;
        connect_error = connect_error.or(outcome.first_connect_error);
        histogram
            .add(&outcome.histogram)
            .map_err(|e| BenchError::failed("merging histograms", e.to_string()))?;
        counters.add(&outcome.counters);
    }
    if stop.load(Ordering::Relaxed) {
        return Err(BenchError::Interrupted);
    }
    // Not a measurement at all: say why instead of printing a table of zeros.
    if all_replies == 0 && connect_failures > 0 {
        return Err(BenchError::Unreachable {
            target: spec.target.to_string(),
            attempts: connect_failures,
            error: connect_error.unwrap_or_else(|| "no connection completed".into()),
        });
    }
    Ok(RunReport::new(
        spec,
        threads,
        counters,
        all_replies,
        &histogram,
    ))
}

struct ThreadOutcome {
    histogram: Histogram<u64>,
    counters: Counters,
    /// Every reply, warm-up included.
    all_replies: u64,
    /// Failed connects, warm-up included, and the first one's error.
    connect_failures: u64,
    first_connect_error: Option<String>,
}

/// Failed connects of one thread, warm-up included, and the first one's error: a run where every connect
/// fails is reported as that error, not as a table of zeros.
#[derive(Default)]
struct FailedConnects {
    total: u64,
    first: Option<String>,
}

impl FailedConnects {
    fn record(&mut self, counters: &mut Counters, measured: bool, error: String) {
        counters.connect_errors += u64::from(measured);
        self.total += 1;
        self.first.get_or_insert(error);
    }
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .and_then(|()| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set))
        .map_err(|e| {
            BenchError::invalid(
                "--cpus",
                format!("cannot pin a client thread to CPU {cpu}: {e} (is it in this process's affinity mask?)"),
            )
        })
}

/// One client thread: its connections, its epoll instance, its histogram.
fn client_thread(
    spec: &LoadSpec,
    thread: usize,
    ids: Vec<usize>,
    cpu: Option<usize>,
    epoch: Instant,
    stop: &AtomicBool,
    progress: Option<mpsc::Sender<Progress>>,
) -> Result<ThreadOutcome> {
    if let Some(cpu) = cpu {
        pin(cpu)?;
    }
    let clock = || epoch.elapsed().as_nanos() as u64;
    let measure_from = spec.warmup.as_nanos() as u64;
    let end = measure_from + spec.duration.as_nanos() as u64;
    let drain_until = end + (spec.timeout.as_nanos() as u64).min(2_000_000_000);
    let timeout = spec.timeout.as_nanos() as u64;
    let in_window = |t: u64| t >= measure_from && t < end;
    // Open loop: each connection sends every `interval` ns, phases spread evenly over one interval.
    let interval = spec
        .rate
        .map(|r| ((spec.connections as f64 / r) * 1e9).max(1.0) as u64);
    let mut conns: Vec<Connection> = ids
        .iter()
        .map(|&i| Connection::new(interval.map_or(0, |iv| iv * i as u64 / spec.connections as u64)))
        .collect();

    let mut poll = Poll::new().map_err(|e| BenchError::io("creating an epoll instance", e))?;
    let mut events = Events::with_capacity(1024);
    // Open loop: wakes the thread at the next intended send time (a connection's token is its index, so
    // the timer takes one no connection can have).
    let timer = match interval {
        Some(_) => {
            let timer = Timer::new().map_err(|e| BenchError::io("creating a timerfd", e))?;
            poll.registry()
                .register(&mut SourceFd(&timer.raw_fd()), TIMER, Interest::READABLE)
                .map_err(|e| BenchError::io("registering the timerfd with epoll", e))?;
            Some(timer)
        }
        None => None,
    };
    let mut rng = Rng::new(0x5eed ^ ids.first().copied().unwrap_or(0) as u64);
    let value = spec.workload.value();
    let limits = Limits::default();
    let mut histogram = latency::histogram();
    let mut interval_histogram = progress.as_ref().map(|_| latency::histogram());
    let mut counters = Counters::default();
    let mut failed_connects = FailedConnects::default();
    let mut completed_total = 0u64;
    let mut next_housekeeping = 0u64;
    let mut next_progress = PROGRESS_NS;

    loop {
        let now = clock();
        let sending = now < end && !stop.load(Ordering::Relaxed);
        if !sending && (now >= drain_until || conns.iter().all(|c| c.in_flight.is_empty())) {
            break;
        }
        // Reconnect closed connections, time out stalled ones.
        if now >= next_housekeeping {
            next_housekeeping = now + HOUSEKEEPING_NS;
            for (token, conn) in conns.iter_mut().enumerate() {
                match conn.state {
                    // Requests to send again after a clean close go out even after the sending window.
                    State::Closed { retry_at }
                        if (sending || !conn.in_flight.is_empty()) && now >= retry_at =>
                    {
                        if let Err(e) =
                            conn.connect(spec.target, poll.registry(), Token(token), now)
                        {
                            tracing::debug!(error = %e, "connect failed");
                            failed_connects.record(&mut counters, in_window(now), e.to_string());
                            conn.state = State::Closed {
                                retry_at: now + RECONNECT_DELAY_NS,
                            };
                        }
                    }
                    State::Connecting { since } if now - since > timeout => {
                        failed_connects.record(
                            &mut counters,
                            in_window(now),
                            format!("connect timed out after {:?}", spec.timeout),
                        );
                        conn.close(poll.registry(), now + RECONNECT_DELAY_NS);
                    }
                    State::Ready => {
                        if let Some(&oldest) = conn.in_flight.front() {
                            if now.saturating_sub(oldest) > timeout {
                                counters.timeouts +=
                                    conn.in_flight.iter().filter(|&&t| in_window(t)).count() as u64;
                                conn.close(poll.registry(), now + RECONNECT_DELAY_NS);
                            }
                        }
                    }
                    _ => {}
                }
            }
            if let (Some(tx), Some(h)) = (progress.as_ref(), interval_histogram.as_mut()) {
                if now >= next_progress {
                    next_progress = now + PROGRESS_NS;
                    let sample = Progress {
                        thread,
                        completed: completed_total,
                        interval: h.clone(),
                    };
                    h.reset();
                    let _ = tx.send(sample);
                }
            }
        }
        // Open loop: queue every request whose intended time has come.
        let mut poll_timeout = Duration::from_nanos(HOUSEKEEPING_NS);
        if let (Some(interval), true) = (interval, sending) {
            let mut next = u64::MAX;
            for conn in conns.iter_mut() {
                if conn.state == State::Ready {
                    let mut queued = false;
                    while conn.next_due <= now
                        && conn.next_due < end
                        && conn.in_flight.len() < OPEN_LOOP_MAX_IN_FLIGHT
                    {
                        let due = conn.next_due;
                        conn.queue(due, |out| spec.workload.encode(&mut rng, &value, out));
                        conn.next_due += interval;
                        queued = true;
                    }
                    if queued {
                        if let Err(e) = conn.flush() {
                            fail(conn, &mut counters, &poll, now, &e, in_window);
                        }
                    }
                    if conn.in_flight.len() < OPEN_LOOP_MAX_IN_FLIGHT {
                        next = next.min(conn.next_due);
                    }
                }
                // A connection that is down keeps its schedule: its requests go out late once it is back,
                // and their latency shows it.
            }
            if next != u64::MAX {
                match (next.saturating_sub(clock()), timer.as_ref()) {
                    (0, _) | (_, None) => poll_timeout = Duration::ZERO,
                    // Arm the timer for the next send; if that fails, poll without sleeping.
                    (wait, Some(timer)) if wait < HOUSEKEEPING_NS && timer.arm(wait).is_err() => {
                        poll_timeout = Duration::ZERO;
                    }
                    _ => {}
                }
            }
        }
        if let Err(e) = poll.poll(&mut events, Some(poll_timeout)) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(BenchError::io("epoll_wait", e));
            }
        }
        for event in events.iter() {
            if event.token() == TIMER {
                if let Some(timer) = timer.as_ref() {
                    timer.clear();
                }
                continue;
            }
            let Some(conn) = conns.get_mut(event.token().0) else {
                continue;
            };
            let now = clock();
            if let State::Connecting { .. } = conn.state {
                match conn.finish_connect() {
                    Ok(true) => {
                        // Requests sent again after a clean close count towards the pipeline.
                        if interval.is_none() && sending {
                            for _ in conn.in_flight.len()..spec.pipeline {
                                conn.queue(now, |out| spec.workload.encode(&mut rng, &value, out));
                            }
                        }
                    }
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "connect failed");
                        failed_connects.record(&mut counters, in_window(now), e.to_string());
                        conn.close(poll.registry(), now + RECONNECT_DELAY_NS);
                        continue;
                    }
                }
            }
            if conn.state != State::Ready {
                continue;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                let read = conn.read();
                if !matches!(read, ReadOutcome::Open) {
                    // Replies that did arrive before the close still count.
                    let replies = take_replies(
                        conn,
                        spec,
                        &limits,
                        now,
                        in_window,
                        &mut histogram,
                        &mut interval_histogram,
                        &mut counters,
                    );
                    completed_total += replies.as_ref().map_or(0, |&n| n as u64);
                    match (read, replies) {
                        // A clean close between replies (a server draining for an upgrade): the requests
                        // it did not answer were not run, so they go out again on a new connection.
                        (ReadOutcome::Ended, Ok(_)) if conn.received().is_empty() => {
                            counters.resent +=
                                conn.in_flight.iter().filter(|&&t| in_window(t)).count() as u64;
                            conn.reopen(poll.registry());
                            next_housekeeping = now;
                        }
                        (_, Err(e)) | (ReadOutcome::Closed(e), _) => {
                            fail(conn, &mut counters, &poll, now, &e, in_window)
                        }
                        _ => {
                            let e = std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "the server closed the connection in the middle of a reply",
                            );
                            fail(conn, &mut counters, &poll, now, &e, in_window);
                        }
                    }
                    continue;
                }
                match take_replies(
                    conn,
                    spec,
                    &limits,
                    now,
                    in_window,
                    &mut histogram,
                    &mut interval_histogram,
                    &mut counters,
                ) {
                    Ok(n) => {
                        completed_total += n as u64;
                        if interval.is_none() && sending {
                            for _ in 0..n {
                                conn.queue(now, |out| spec.workload.encode(&mut rng, &value, out));
                            }
                        }
                    }
                    Err(e) => {
                        fail(conn, &mut counters, &poll, now, &e, in_window);
                        continue;
                    }
                }
            }
            if let Err(e) = conn.flush() {
                fail(conn, &mut counters, &poll, now, &e, in_window);
            }
        }
    }
    // Requests still unanswered after the drain are timeouts.
    for conn in &conns {
        counters.timeouts += conn.in_flight.iter().filter(|&&t| in_window(t)).count() as u64;
    }
    Ok(ThreadOutcome {
        histogram,
        counters,
        all_replies: completed_total,
        connect_failures: failed_connects.total,
        first_connect_error: failed_connects.first,
    })
}

/// Frames and records every complete reply in the connection's input; returns how many there were.
#[allow(clippy::too_many_arguments)]
fn take_replies(
    conn: &mut Connection,
    spec: &LoadSpec,
    limits: &Limits,
    now: u64,
    in_window: impl Fn(u64) -> bool,
    histogram: &mut Histogram<u64>,
    interval_histogram: &mut Option<Histogram<u64>>,
    counters: &mut Counters,
) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        let framed = spec
            .workload
            .frame(conn.received(), limits)
            .map_err(|e| std::io::Error::other(format!("bad reply: {}", e.0)))?;
        let Some((len, is_error)) = framed else {
            return Ok(n);
        };
        let Some(sent) = conn.answered() else {
            return Err(std::io::Error::other("a reply to no request"));
        };
        conn.consume(len);
        n += 1;
        if in_window(sent) {
            let ns = now.saturating_sub(sent);
            latency::record(histogram, ns);
            if let Some(h) = interval_histogram.as_mut() {
                latency::record(h, ns);
            }
            counters.requests += 1;
            counters.error_replies += u64::from(is_error);
        }
    }
}

/// Closes a connection after an I/O or protocol error; its requests in flight count as errors.
fn fail(
    conn: &mut Connection,
    counters: &mut Counters,
    poll: &Poll,
    now: u64,
    e: &std::io::Error,
    in_window: impl Fn(u64) -> bool,
) {
    tracing::debug!(error = %e, "connection failed");
    let lost = conn.in_flight.iter().filter(|&&t| in_window(t)).count() as u64;
    counters.io_errors += u64::from(in_window(now));
    counters.lost += lost;
    conn.close(poll.registry(), now + RECONNECT_DELAY_NS);
}
