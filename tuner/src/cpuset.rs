//! Sets of CPUs in the kernel's two spellings: lists (`0-3,8`, as in `smp_affinity_list` and
//! `local_cpulist`) and hex masks (`00000000,0000000f`, as in `rps_cpus` and `xps_cpus`), and the process's
//! affinity mask.
//!
//! The one place pincore reads a CPU list or mask: the tuner's profiles and NIC files, the server's
//! `shards.cpus` and `--cpus`, and pincore-bench's `--cpus` all parse with [`CpuSet::parse_list`], so a
//! list means the same and a mistake reads the same in every tool.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Serialize, Serializer};

/// A set of CPU numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CpuSet(BTreeSet<u32>);

/// Highest CPU number accepted from input (the kernel's NR_CPUS tops out at 8192).
const MAX_CPU: u32 = 8191;

impl CpuSet {
    pub fn new(cpus: impl IntoIterator<Item = u32>) -> CpuSet {
        CpuSet(cpus.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, cpu: u32) -> bool {
        self.0.contains(&cpu)
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }

    pub fn intersection(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.intersection(&other.0).copied().collect())
    }

    pub fn difference(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.difference(&other.0).copied().collect())
    }

    /// Parses a list such as `0-3,8,10-11` (empty text is the empty set).
    pub fn parse_list(text: &str) -> Result<CpuSet, String> {
        let mut set = BTreeSet::new();
        for part in text
            .trim()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let number = |n: &str| -> Result<u32, String> {
                let cpu: u32 = n.trim().parse().map_err(|_| {
                    format!(
                        "`{}` in CPU list `{text}` is not a CPU number; write a list such as 0-3,8",
                        n.trim()
                    )
                })?;
                if cpu > MAX_CPU {
                    return Err(format!(
                        "CPU {cpu} in `{text}` is beyond the kernel's limit of {MAX_CPU}"
                    ));
                }
                Ok(cpu)
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (number(a)?, number(b)?);
                    if a > b {
                        return Err(format!(
                            "range `{part}` in CPU list `{text}` runs backwards; write it as {b}-{a}"
                        ));
                    }
                    set.extend(a..=b);
                }
                None => {
                    set.insert(number(part)?);
                }
            }
        }
        Ok(CpuSet(set))
    }

    /// Parses a list that must name at least one CPU: what a user gives to run or pin on.
    pub fn parse_nonempty(text: &str) -> Result<CpuSet, String> {
        let set = CpuSet::parse_list(text)?;
        if set.is_empty() {
            return Err(format!(
                "CPU list `{}` names no CPU; write a list such as 0-3,8",
                text.trim()
            ));
        }
        Ok(set)
    }

    /// The CPUs this process may run on: its affinity mask (`sched_getaffinity`), which `taskset`, a cgroup
    /// cpuset or Kubernetes' CPU manager narrow. `/sys/devices/system/cpu/online` does not show it.
    pub fn allowed() -> std::io::Result<CpuSet> {
        let mask = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))?;
        Ok(CpuSet(
            (0..nix::sched::CpuSet::count())
                .filter(|&cpu| mask.is_set(cpu).unwrap_or(false))
                .filter_map(|cpu| u32::try_from(cpu).ok())
                .collect(),
        ))
    }

    /// The CPU numbers, ascending, as indexes.
    pub fn to_vec(&self) -> Vec<usize> {
        self.0.iter().map(|&cpu| cpu as usize).collect()
    }

    /// Parses a hex mask, with or without the kernel's comma between 32-bit words.
    pub fn parse_mask(text: &str) -> Result<CpuSet, String> {
        let digits: String = text.trim().chars().filter(|c| *c != ',').collect();
        let digits = digits.trim_start_matches("0x");
        let mut set = BTreeSet::new();
        for (i, c) in digits.chars().rev().enumerate() {
            let nibble = c
                .to_digit(16)
                .ok_or_else(|| format!("`{text}` is not a hex CPU mask"))?;
            for bit in 0..4 {
                if nibble & (1 << bit) != 0 {
                    set.insert((i * 4 + bit) as u32);
                }
            }
        }
        Ok(CpuSet(set))
    }

    /// The kernel's list form: ascending, runs collapsed (`0-3,8`).
    pub fn to_list(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut cpus = self.0.iter().copied().peekable();
        while let Some(start) = cpus.next() {
            let mut end = start;
            while cpus.peek() == Some(&(end + 1)) {
                end += 1;
                cpus.next();
            }
            out.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
        }
        out.join(",")
    }

    /// A hex mask shaped like `like` (the file's current content): as many hex digits, with a comma before
    /// every group of eight as the kernel prints them, so a write reads back byte for byte. Grows when the
    /// set needs more digits.
    pub fn to_mask_like(&self, like: &str) -> String {
        let width = like
            .trim()
            .chars()
            .filter(char::is_ascii_hexdigit)
            .count()
            .max(1);
        let needed = self.0.last().map_or(1, |&max| max as usize / 4 + 1);
        let width = width.max(needed);
        let mut nibbles = vec![0u8; width];
        for &cpu in &self.0 {
            nibbles[cpu as usize / 4] |= 1 << (cpu % 4);
        }
        let mut out = String::with_capacity(width + width / 8);
        for (i, n) in nibbles.iter().enumerate().rev() {
            out.push(char::from_digit(u32::from(*n), 16).unwrap_or('0'));
            if i % 8 == 0 && i != 0 {
                out.push(',');
            }
        }
        out
    }
}

impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list())
    }
}

impl Serialize for CpuSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_list())
    }
}

/// From a profile: a list (`8-15`, `0,2,4`) or a single CPU number.
impl<'de> serde::Deserialize<'de> for CpuSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CpuSet, D::Error> {
        struct ListVisitor;
        impl serde::de::Visitor<'_> for ListVisitor {
            type Value = CpuSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CPU list such as 8-15 or 0,2,4")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CpuSet, E> {
                let set = CpuSet::parse_list(v).map_err(E::custom)?;
                if set.is_empty() {
                    return Err(E::custom("the CPU list is empty"));
                }
                Ok(set)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CpuSet, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<CpuSet, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

impl std::str::FromStr for CpuSet {
    type Err = String;
    fn from_str(s: &str) -> Result<CpuSet, String> {
        CpuSet::parse_list(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip() {
        let set = CpuSet::parse_list("0-3, 8,10-11").unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(set.to_list(), "0-3,8,10-11");
        assert_eq!(CpuSet::parse_list("").unwrap(), CpuSet::default());
        assert_eq!(
            CpuSet::parse_list("3-1").unwrap_err(),
            "range `3-1` in CPU list `3-1` runs backwards; write it as 1-3"
        );
        assert_eq!(
            CpuSet::parse_list("0-x").unwrap_err(),
            "`x` in CPU list `0-x` is not a CPU number; write a list such as 0-3,8"
        );
        assert!(CpuSet::parse_nonempty(" ")
            .unwrap_err()
            .contains("names no CPU"));
        assert_eq!(CpuSet::parse_nonempty("2,0").unwrap().to_vec(), vec![0, 2]);
        assert!(CpuSet::parse_list("a").is_err());
        assert!(CpuSet::parse_list("9000").is_err());
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!CpuSet::allowed().unwrap().is_empty());
    }

    #[test]
    fn masks_parse_with_and_without_commas() {
        assert_eq!(
            CpuSet::parse_mask("00000000,0000000f").unwrap(),
            CpuSet::parse_list("0-3").unwrap()
        );
        assert_eq!(
            CpuSet::parse_mask("1,00000000").unwrap(),
            CpuSet::parse_list("32").unwrap()
        );
        assert_eq!(CpuSet::parse_mask("0").unwrap(), CpuSet::default());
        assert!(CpuSet::parse_mask("xyz").is_err());
    }

    #[test]
    fn masks_take_the_shape_of_the_current_value() {
        let set = CpuSet::parse_list("0,4").unwrap();
        assert_eq!(set.to_mask_like("0000"), "0011");
        assert_eq!(set.to_mask_like("0"), "11");
        assert_eq!(set.to_mask_like("00000000,00000000"), "00000000,00000011");
        assert_eq!(CpuSet::parse_list("1").unwrap().to_mask_like("0"), "2");
        assert_eq!(CpuSet::default().to_mask_like("0000"), "0000");
        let wide = CpuSet::parse_list("35").unwrap();
        assert_eq!(wide.to_mask_like("00000000"), "8,00000000");
        assert_eq!(
            CpuSet::parse_mask(&wide.to_mask_like("00000000")).unwrap(),
            wide
        );
    }
}
