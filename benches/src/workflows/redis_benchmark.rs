//! redis-benchmark as a second client in `compare`: run with the same connections, pipeline, value size, key
//! space and threads as a pincore-bench run, and its `--csv` output read back into the same summary, so the
//! client check compares like with like.

use std::path::Path;
use std::process::Command;

use crate::error::{BenchError, Result};
use crate::load::latency::Percentiles;
use crate::load::spec::LoadSpec;
use crate::workflows::summary::RunSummary;

/// Runs redis-benchmark with the same connections, pipeline, value size and key space as `like`.
pub fn run(program: &Path, like: &LoadSpec, requests: u64) -> Result<RunSummary> {
    let requests = requests.max(10_000);
    let out = Command::new(program)
        .args([
            "-h",
            &like.target.ip().to_string(),
            "-p",
            &like.target.port().to_string(),
        ])
        .args([
            "-c",
            &like.connections.to_string(),
            "-P",
            &like.pipeline.to_string(),
        ])
        .args([
            "-d",
            &like.workload.value_size.to_string(),
            "-r",
            &like.workload.keys.to_string(),
        ])
        .args([
            "--threads",
            &like.threads.to_string(),
            "-n",
            &requests.to_string(),
        ])
        .args(["-t", "set", "--csv"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| BenchError::io(format!("running {}", program.display()), e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(BenchError::Process {
            program: "redis-benchmark".into(),
            message: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let summary = parse_csv(&text).ok_or_else(|| BenchError::Process {
        program: "redis-benchmark".into(),
        message: format!("unexpected --csv output: {text:?}"),
    })?;
    Ok(RunSummary {
        all_requests: requests,
        ..summary
    })
}

/// Reads the SET line of `redis-benchmark --csv` (rps and latency columns in milliseconds).
pub fn parse_csv(text: &str) -> Option<RunSummary> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()?
        .split(',')
        .map(|f| f.trim_matches('"').to_string())
        .collect();
    let row: Vec<String> = lines
        .next()?
        .split(',')
        .map(|f| f.trim_matches('"').to_string())
        .collect();
    let col = |name: &str| -> Option<f64> {
        row.get(header.iter().position(|h| h == name)?)?
            .parse()
            .ok()
    };
    let ms = |name: &str| col(name).map(|v| v * 1000.0).unwrap_or(0.0);
    Some(RunSummary {
        rate: col("rps")?,
        failures: 0,
        latency_us: Percentiles {
            p50_us: ms("p50_latency_ms"),
            // redis-benchmark reports p95, not p90: the nearest it has.
            p90_us: ms("p95_latency_ms"),
            p99_us: ms("p99_latency_ms"),
            p999_us: 0.0,
            max_us: ms("max_latency_ms"),
            mean_us: ms("avg_latency_ms"),
        },
        all_requests: 0,
        server_cpu_us_per_request: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redis_benchmark_csv() {
        let text = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\
                    \"p99_latency_ms\",\"max_latency_ms\"\n\"SET\",\"12048.19\",\"0.136\",\"0.024\",\"0.079\",\
                    \"0.127\",\"3.263\",\"5.391\"\n";
        let r = parse_csv(text).unwrap();
        assert_eq!(r.rate, 12048.19);
        assert!((r.latency_us.p50_us - 79.0).abs() < 1e-6);
        assert!((r.latency_us.p99_us - 3263.0).abs() < 1e-6);
        assert!((r.latency_us.max_us - 5391.0).abs() < 1e-6);
        assert!(parse_csv("garbage").is_none());
    }
}
