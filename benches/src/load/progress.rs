//! A load run with a live progress line on stderr (requests/s over the last second, p99 so far).

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::load::generator::{self, Progress};
use crate::load::latency::{self, Percentiles};
use crate::load::report::{progress_line, RunReport};
use crate::load::spec::LoadSpec;

/// Runs `spec`; when `show` is true, redraws one progress line on stderr about once a second.
pub fn run_with_progress(spec: &LoadSpec, stop: &AtomicBool, show: bool) -> Result<RunReport> {
    if !show {
        return generator::run(spec, stop, None);
    }
    let (tx, rx) = mpsc::channel::<Progress>();
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| generator::run(spec, stop, Some(tx)));
        let started = Instant::now();
        let mut so_far = latency::histogram();
        let mut completed = vec![0u64; spec.threads.min(spec.connections)];
        let mut last_total = 0u64;
        let mut last_print = Instant::now();
        // The channel closes when every client thread has finished.
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(sample) => {
                    let _ = so_far.add(&sample.interval);
                    if let Some(c) = completed.get_mut(sample.thread) {
                        *c = sample.completed;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last_print.elapsed() >= Duration::from_secs(1) && completed.iter().any(|&c| c > 0) {
                let total: u64 = completed.iter().sum();
                let rate =
                    total.saturating_sub(last_total) as f64 / last_print.elapsed().as_secs_f64();
                last_total = total;
                last_print = Instant::now();
                let p99 = Percentiles::of(&so_far).p99_us;
                eprint!(
                    "{}",
                    progress_line(started.elapsed().as_secs_f64(), rate, p99)
                );
                let _ = std::io::stderr().flush();
            }
        }
        eprintln!();
        worker
            .join()
            .unwrap_or_else(|_| Err(crate::BenchError::failed("load run", "panicked")))
    })
}
