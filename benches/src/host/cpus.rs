//! Which CPUs client threads are pinned to: a list written like `0-3,8`, or the process's affinity mask.

use crate::error::{BenchError, Result};

/// Parses `0-3,8` into `[0, 1, 2, 3, 8]`.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>> {
    let bad = |m: String| BenchError::invalid(format!("--cpus {text}"), m);
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |n: &str| {
            n.trim().parse::<usize>().map_err(|_| {
                bad(format!(
                    "`{n}` is not a CPU number (write a list like 0-3,8)"
                ))
            })
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b || b - a > 4096 {
                    return Err(bad(format!("`{part}` is not an ascending range")));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(number(part)?),
        }
    }
    if cpus.is_empty() {
        return Err(bad("names no CPU".into()));
    }
    Ok(cpus)
}

/// The CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_cpu_list("0-3,8").unwrap(), vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x")
            .unwrap_err()
            .to_string()
            .contains("--cpus x"));
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().is_empty());
    }
}
