//! One reading of everything the doctor looks at, taken under a root directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::counters::{parse_cpu_stat, parse_softnet, Counters, CpuTimes, SoftnetRow};
use super::limits::{parse_limits, Limits};
use super::listeners::{dump_netlink, parse_proc_net_tcp, Listener, ListenerSource};
use crate::sysctl::{Key, SysctlTree};
use crate::Error;

/// The sysctls the rules compare against or recommend changing.
pub const SYSCTLS: &[&str] = &[
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_mem",
    "net.core.rmem_max",
    "net.core.netdev_max_backlog",
    "net.core.netdev_budget",
    "net.core.netdev_budget_usecs",
    "kernel.io_uring_disabled",
];

/// Everything read at one instant. A source that does not exist here (a global file inside a network
/// namespace, a key this kernel lacks) is `None` and its path is listed in `not_visible`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    pub netstat: Option<Counters>,
    pub snmp: Option<Counters>,
    pub sockstat: Option<Counters>,
    pub softnet: Option<Vec<SoftnetRow>>,
    /// Per-CPU times from `/proc/stat` (host-wide, also inside a network namespace).
    pub cpus: Option<Vec<CpuTimes>>,
    pub listeners: Option<Vec<Listener>>,
    pub listener_source: Option<ListenerSource>,
    pub limits: Option<Limits>,
    /// Current sysctl values (whitespace-normalised); `None` when the key is not visible.
    pub sysctls: BTreeMap<String, Option<String>>,
    pub not_visible: Vec<PathBuf>,
}

impl Sample {
    /// Reads a sample under `root`. With `live` (root is `/` of the running kernel), listeners come from
    /// sock_diag netlink, which also shows each backlog; otherwise from `/proc/net/tcp{,6}`.
    pub fn read(root: &Path, live: bool) -> Result<Sample, Error> {
        let mut sample = Sample::default();
        let proc_net = root.join("proc/net");
        // Counters missing from a partial tree are reported as not visible; a tree with neither part is
        // not a /proc tree at all (a mistyped --root), and would otherwise read as a healthy host.
        if !proc_net.is_dir() && !root.join("proc/sys").is_dir() {
            return Err(Error::NotAProcTree(root.to_path_buf()));
        }
        sample.netstat = sample.file(&proc_net.join("netstat"), Counters::parse_paired)?;
        sample.snmp = sample.file(&proc_net.join("snmp"), Counters::parse_paired)?;
        sample.sockstat = sample.file(&proc_net.join("sockstat"), Counters::parse_sockstat)?;
        sample.softnet = sample.file(&proc_net.join("softnet_stat"), parse_softnet)?;
        sample.cpus = sample.file(&root.join("proc/stat"), parse_cpu_stat)?;
        sample.limits = sample.file(&root.join("proc/self/limits"), parse_limits)?;

        let netlink = if live {
            dump_netlink()
                .inspect_err(|e| tracing::warn!("sock_diag netlink unavailable ({e}); reading /proc/net/tcp, which shows no backlogs"))
                .ok()
        } else {
            None
        };
        if let Some(listeners) = netlink {
            sample.listeners = Some(listeners);
            sample.listener_source = Some(ListenerSource::Netlink);
        } else {
            let v4 = sample.file(&proc_net.join("tcp"), parse_proc_net_tcp)?;
            let v6 = sample.file(&proc_net.join("tcp6"), parse_proc_net_tcp)?;
            if v4.is_some() || v6.is_some() {
                sample.listeners = Some(v4.into_iter().chain(v6).flatten().collect());
                sample.listener_source = Some(ListenerSource::ProcNetTcp);
            }
        }

        let tree = SysctlTree::new(root);
        for name in SYSCTLS {
            // The names above are constants that Key::parse accepts (checked by a unit test).
            let Ok(key) = Key::parse(name) else { continue };
            let value = tree.read(&key).map_err(Error::Sysctl)?;
            if value.is_none() {
                sample.not_visible.push(tree.path(&key));
            }
            sample.sysctls.insert(name.to_string(), value);
        }
        Ok(sample)
    }

    fn file<T>(
        &mut self,
        path: &Path,
        parse: impl FnOnce(&str, &Path) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => parse(&text, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.not_visible.push(path.to_path_buf());
                Ok(None)
            }
            Err(e) => Err(Error::io("reading", path, e)),
        }
    }

    /// The current value of one of [`SYSCTLS`], if visible.
    pub fn sysctl(&self, name: &str) -> Option<&str> {
        self.sysctls.get(name)?.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_without_proc_is_not_read_as_a_healthy_host() {
        let empty = tempfile::tempdir().unwrap();
        let e = Sample::read(empty.path(), false).unwrap_err().to_string();
        assert!(e.contains("is not a /proc tree"), "{e}");
    }

    #[test]
    fn sysctl_names_are_valid_keys() {
        for name in SYSCTLS {
            assert!(Key::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn missing_files_are_not_visible_rather_than_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
        std::fs::write(
            dir.path().join("proc/net/netstat"),
            "TcpExt: ListenOverflows\nTcpExt: 4\n",
        )
        .unwrap();
        let s = Sample::read(dir.path(), false).unwrap();
        assert_eq!(
            s.netstat.as_ref().unwrap().get("TcpExt", "ListenOverflows"),
            Some(4)
        );
        assert!(s.softnet.is_none());
        assert!(s
            .not_visible
            .contains(&dir.path().join("proc/net/softnet_stat")));
        assert_eq!(s.sysctl("net.core.somaxconn"), None);
    }
}
