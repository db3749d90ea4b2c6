//! Telling which service held a shard's CPU, on top of glommio's stall detector.
//!
//! glommio arms a timer when it starts running a task queue; if the queue is still running past its budget
//! (the preemption period plus [`THRESHOLD`]) a helper thread sends the shard thread SIGUSR1. glommio itself
//! only knows the queue, not the service: so every poll of a connection's future records, in a thread-local,
//! which service it belongs to ([`Polling`]), and a second SIGUSR1 handler, running on the stalled thread
//! while the service still holds it, notes that moment. When that poll returns, the engine logs the service
//! and about how long it held the CPU, and counts it in `pincore_service_stalls_total`.
//!
//! The cost on the request path is two thread-local stores and one load per poll; a SIGUSR1 sent to the
//! process from outside while a service is being polled would be counted as a stall of that service.

use std::cell::Cell;
use std::sync::Once;
use std::time::{Duration, Instant};

use glommio::{StallDetectionHandler, TaskQueueHandle};

/// How far past its preemption budget a task queue may run before it counts as stalled.
pub const THRESHOLD: Duration = Duration::from_millis(10);

const NONE: usize = usize::MAX;

thread_local! {
    /// The service whose future is being polled on this thread, or `NONE`.
    static IN_POLL: Cell<usize> = const { Cell::new(NONE) };
    /// When the detector's signal found a service being polled (set from the signal handler).
    static CAUGHT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The budget of the task queue running now: when the signal fires, the queue has run this long.
    static BUDGET: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// Marks service `service` as being polled until [`Polling::leave`] (or drop, also on a panic).
pub struct Polling {
    previous: usize,
}

impl Polling {
    pub fn enter(service: usize) -> Polling {
        Polling {
            previous: IN_POLL.with(|p| p.replace(service)),
        }
    }

    /// Ends the poll; `Some(held)` when the stall detector caught this service holding the CPU.
    pub fn leave(self) -> Option<Duration> {
        drop(self);
        CAUGHT
            .with(Cell::take)
            .map(|at| BUDGET.with(Cell::get) + at.elapsed())
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        IN_POLL.with(|p| p.set(self.previous));
    }
}

#[derive(Debug)]
struct Detector;

impl StallDetectionHandler for Detector {
    fn threshold(
        &self,
        _queue: TaskQueueHandle,
        max_expected_runtime: Duration,
    ) -> Option<Duration> {
        // Called on the shard's thread as the queue starts running.
        BUDGET.with(|b| b.set(max_expected_runtime + THRESHOLD));
        Some(THRESHOLD)
    }
    // `stall` keeps glommio's report (the queue and a backtrace, through the `log` crate); the service and
    // its time are logged where its poll ends.
}

/// The handler for each shard's executor (installs the process's SIGUSR1 note-taker once).
pub fn handler() -> Box<dyn StallDetectionHandler> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: the closure is async-signal-safe: it reads and writes const-initialised thread-locals
        // without destructors (no allocation, no lazy initialisation, no locks) and reads the monotonic
        // clock (clock_gettime is async-signal-safe).
        let installed = unsafe {
            signal_hook::low_level::register(signal_hook::consts::SIGUSR1, || {
                if IN_POLL.with(Cell::get) != NONE && CAUGHT.with(Cell::get).is_none() {
                    CAUGHT.with(|c| c.set(Some(Instant::now())));
                }
            })
        };
        if let Err(e) = installed {
            tracing::warn!(error = %e, "cannot install the stall note-taker; stalls are logged without their service");
        }
    });
    Box::new(Detector)
}
