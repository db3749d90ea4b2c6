//! Coordinated omission, shown: against a server that stalls 100 ms on every 200th request, an open-loop
//! run's percentiles show the stall while a closed-loop run's percentiles hide it (only its max sees it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use pincore_bench::load::generator;
use pincore_bench::load::report::RunReport;
use pincore_bench::load::spec::LoadSpec;
use pincore_bench::load::workload::{Protocol, Workload};

const PAYLOAD: usize = 16;
const STALL_EVERY: usize = 200;
const STALL: Duration = Duration::from_millis(100);

/// An echo server that sleeps `STALL` whenever its request count passes a multiple of `STALL_EVERY`.
fn stalling_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; 64 * 1024];
                let mut bytes = 0usize;
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let before = bytes / PAYLOAD / STALL_EVERY;
                    bytes += n;
                    if bytes / PAYLOAD / STALL_EVERY > before {
                        std::thread::sleep(STALL);
                    }
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn run(target: SocketAddr, rate: Option<f64>) -> RunReport {
    let spec = LoadSpec {
        target,
        workload: Workload {
            protocol: Protocol::Echo,
            value_size: PAYLOAD,
            keys: 1,
            set_ratio: 0.0,
            path: "/".into(),
        },
        connections: 1,
        pipeline: 1,
        rate,
        threads: 1,
        cpus: None,
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
    };
    generator::run(&spec, &AtomicBool::new(false), None).unwrap()
}

#[test]
fn open_loop_percentiles_show_a_stall_that_closed_loop_hides() {
    let target = stalling_echo_server();
    let closed = run(target, None);
    let open = run(target, Some(1000.0));
    let ms = |us: f64| us / 1000.0;

    // Closed loop: one request in 200 waits 100 ms; the others are fast, so p99 says all is well (the bound
    // leaves room for a loaded machine's scheduling delays)...
    assert!(closed.counters.requests > 1000, "{closed:#?}");
    assert!(
        ms(closed.latency_us.p99_us) < 50.0,
        "closed loop p99 should hide the stall: {closed:#?}"
    );
    // ...although the stall did happen (the max saw it).
    assert!(ms(closed.latency_us.max_us) >= 90.0, "{closed:#?}");

    // Open loop at 1000/s: the 100 requests due during each stall are late by up to 100 ms, half of all, so
    // p90 is about 80 ms and p99 about 98 ms.
    assert_eq!(open.mode, "open");
    assert!(
        open.counters.requests >= 1800,
        "open loop should keep its rate: {open:#?}"
    );
    assert!(
        ms(open.latency_us.p99_us) >= 70.0,
        "open loop p99 should show the stall: {open:#?}"
    );
    assert!(
        ms(open.latency_us.p90_us) >= 40.0,
        "open loop p90 should show the stall: {open:#?}"
    );
    assert_eq!(open.counters.failures(), 0, "{open:#?}");
    assert_eq!(closed.counters.failures(), 0, "{closed:#?}");
}
