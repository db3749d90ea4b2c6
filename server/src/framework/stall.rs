//! Telling which service held a shard's CPU without yielding, and for how long.
//!
//! Every poll of a connection's future is bracketed by [`Polling`]: it stores, in its shard's [`Watch`], that
//! a poll of that service is running and a fresh sequence number (plain relaxed stores: only the shard's
//! thread writes them). One watchdog thread for the process ([`start`]) looks at every shard each
//! [`TICK`]: a shard still in the same poll as [`THRESHOLD`] ago is stalled, and the watchdog notes since
//! when. When that poll returns, the shard sees the note, logs the service and how long it held the CPU, and
//! counts it in `pincore_service_stalls_total`.
//!
//! glommio has a stall detector of its own (`detect_stalls`), but it re-arms a timerfd on entering and on
//! leaving every task-queue run, two syscalls per wake-up of a busy shard: measured under
//! `redis-benchmark -c 50 -t set,get`, it cost about 10 % more server CPU per request. This one costs a few
//! stores per poll on the request path and 1/[`TICK`] wake-ups of one thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long one poll may hold a shard's CPU before it counts as a stall.
pub const THRESHOLD: Duration = Duration::from_millis(100);
/// How often the watchdog looks (a stall is seen within THRESHOLD + TICK).
pub const TICK: Duration = Duration::from_millis(20);

/// Nanoseconds since the process's first use of this module (a clock the atomics can hold).
fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// One shard's poll state, written by the shard and read by the watchdog. Alone on its cache line: every
/// poll writes it, and a line shared with another shard's watch would move between their CPUs per poll.
#[derive(Default)]
#[repr(align(128))]
pub struct Watch {
    /// Incremented at every poll entry; 0 before the first.
    seq: AtomicU64,
    /// Whether a service's poll is running now.
    polling: AtomicBool,
    /// The poll the watchdog caught stalling (its `seq`), and since when it had been running.
    caught_seq: AtomicU64,
    caught_since_ns: AtomicU64,
}

/// A poll of a service's future on the shard watched by `watch`, until [`Polling::leave`] (or drop, on a
/// panic).
pub struct Polling<'a> {
    watch: &'a Watch,
    seq: u64,
}

impl<'a> Polling<'a> {
    pub fn enter(watch: &'a Watch) -> Polling<'a> {
        // Only this shard's thread writes `seq`: a load and a store, no read-modify-write.
        let seq = watch.seq.load(Ordering::Relaxed) + 1;
        watch.seq.store(seq, Ordering::Relaxed);
        watch.polling.store(true, Ordering::Release);
        Polling { watch, seq }
    }

    /// Ends the poll; `Some(held)` when the watchdog caught it holding the CPU past [`THRESHOLD`].
    pub fn leave(self) -> Option<Duration> {
        let (watch, seq) = (self.watch, self.seq);
        drop(self);
        if watch.caught_seq.load(Ordering::Acquire) != seq {
            return None;
        }
        let since = watch.caught_since_ns.load(Ordering::Relaxed);
        Some(Duration::from_nanos(now_ns().saturating_sub(since)))
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.watch.polling.store(false, Ordering::Release);
    }
}

/// Starts the watchdog over `watches` (one per shard); it stops once `stop` is set.
pub fn start(watches: Arc<[Watch]>, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("pincore-stalls".into())
        .spawn(move || {
            // Per shard: the poll seen running at the last tick, and since when it has been seen.
            let mut seen: Vec<(u64, u64)> = vec![(0, 0); watches.len()];
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let now = now_ns();
                for (watch, (seq, since)) in watches.iter().zip(seen.iter_mut()) {
                    let current = watch.seq.load(Ordering::Relaxed);
                    if !watch.polling.load(Ordering::Acquire) || current != *seq {
                        // A poll that started after the last tick: it has run for at most one tick.
                        *seq = current;
                        *since = now.saturating_sub(TICK.as_nanos() as u64);
                        continue;
                    }
                    let caught = watch.caught_seq.load(Ordering::Relaxed) == current;
                    if !caught && now.saturating_sub(*since) >= THRESHOLD.as_nanos() as u64 {
                        watch.caught_since_ns.store(*since, Ordering::Relaxed);
                        watch.caught_seq.store(current, Ordering::Release);
                    }
                }
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_poll_is_caught_and_a_short_one_is_not() {
        let watches: Arc<[Watch]> = (0..1).map(|_| Watch::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        start(watches.clone(), stop.clone()).unwrap();
        let short = Polling::enter(&watches[0]);
        assert_eq!(short.leave(), None);
        let long = Polling::enter(&watches[0]);
        std::thread::sleep(THRESHOLD + 4 * TICK);
        let held = long.leave().expect("a stall");
        assert!(
            held >= THRESHOLD && held < THRESHOLD + 10 * TICK,
            "{held:?}"
        );
        // The next poll does not inherit the note.
        assert_eq!(Polling::enter(&watches[0]).leave(), None);
        stop.store(true, Ordering::Relaxed);
    }
}
