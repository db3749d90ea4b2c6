//! Criterion benchmarks of the server's RESP hot paths: parsing pipelined commands and encoding replies.
//!
//! `cargo bench -p pincore-bench --bench resp`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pincore_resp::{encode_command, parse_command, reply, skip_reply, CommandParser, Limits};

/// `count` pipelined commands as a client sends them: SET with a `value_size`-byte value, or GET.
fn pipeline(count: usize, value_size: usize, set: bool) -> Vec<u8> {
    let value = vec![b'v'; value_size];
    let mut out = Vec::new();
    for i in 0..count {
        let key = format!("key:{i:012}");
        if set {
            encode_command(&mut out, &[b"SET", key.as_bytes(), &value]);
        } else {
            encode_command(&mut out, &[b"GET", key.as_bytes()]);
        }
    }
    out
}

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_command");
    for (name, input) in [
        ("GET x16", pipeline(16, 0, false)),
        ("SET 64B x16", pipeline(16, 64, true)),
        ("SET 4KiB x16", pipeline(16, 4096, true)),
    ] {
        group.throughput(Throughput::Elements(16));
        group.bench_with_input(BenchmarkId::new("stateless", name), &input, |b, input| {
            let mut args = Vec::with_capacity(8);
            b.iter(|| {
                let mut at = 0;
                while let Ok(Some(n)) = parse_command(black_box(&input[at..]), &limits, &mut args) {
                    at += n;
                }
                at
            })
        });
        group.bench_with_input(BenchmarkId::new("resumable", name), &input, |b, input| {
            let mut parser = CommandParser::new();
            b.iter(|| {
                let mut at = 0;
                while let Ok(Some(n)) = parser.parse(black_box(&input[at..]), &limits) {
                    at += n;
                }
                at
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply");
    group.throughput(Throughput::Elements(16));
    let value = vec![b'v'; 64];
    group.bench_function("bulk 64B x16", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            for _ in 0..16 {
                reply::bulk(&mut out, black_box(&value));
            }
            out.len()
        })
    });
    group.bench_function("+OK x16", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            for _ in 0..16 {
                reply::simple(&mut out, black_box(b"OK"));
            }
            out.len()
        })
    });
    group.bench_function("skip_reply bulk 64B x16", |b| {
        let mut replies = Vec::new();
        for _ in 0..16 {
            reply::bulk(&mut replies, &value);
        }
        let limits = Limits::default();
        b.iter(|| {
            let mut at = 0;
            while let Ok(Some((n, _))) = skip_reply(black_box(&replies[at..]), &limits) {
                at += n;
            }
            at
        })
    });
    group.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
