//! INFO: the server, clients, stats and keyspace sections, from every shard's snapshot.

use std::fmt::Write;

use crate::listener::Service;
use crate::metrics::ShardSnapshot;
use crate::shard::Shard;

const SECTIONS: [&str; 4] = ["server", "clients", "stats", "keyspace"];

/// Renders the requested sections (all of them for none, `default`, `all` or `everything`).
pub fn render(shard: &Shard, requested: &[String], snapshots: &[ShardSnapshot]) -> String {
    let everything = requested.is_empty()
        || requested
            .iter()
            .any(|s| matches!(s.as_str(), "default" | "all" | "everything"));
    let wanted = |name: &str| everything || requested.iter().any(|s| s == name);
    let config = shard.config();
    let sum = |pick: fn(&ShardSnapshot) -> u64| snapshots.iter().map(pick).sum::<u64>();
    let mut out = String::new();
    for section in SECTIONS.iter().filter(|s| wanted(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => {
                let _ = write!(
                    out,
                    "# Server\r\nredis_version:7.0.0\r\npincore_version:{}\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nshards:{}\r\n",
                    env!("CARGO_PKG_VERSION"),
                    std::process::id(),
                    config.services.resp.listen.port(),
                    shard.shared.started.elapsed().as_secs(),
                    shard.count,
                );
            }
            "clients" => {
                let _ = write!(
                    out,
                    "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n",
                    sum(|s| s.services[Service::Resp.index()].open),
                    config.limits.max_connections_per_shard * shard.count,
                );
            }
            "stats" => {
                let resp = |pick: fn(&crate::metrics::ServiceSnapshot) -> u64| {
                    snapshots
                        .iter()
                        .map(|s| pick(&s.services[Service::Resp.index()]))
                        .sum::<u64>()
                };
                let commands: u64 = snapshots
                    .iter()
                    .flat_map(|s| s.commands.iter())
                    .map(|c| c.calls)
                    .sum();
                let _ = write!(
                    out,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\n",
                    resp(|s| s.accepted),
                    commands,
                    resp(|s| s.rejected.iter().sum()),
                    resp(|s| s.bytes_in),
                    resp(|s| s.bytes_out),
                );
            }
            _ => {
                out.push_str("# Keyspace\r\n");
                let keys = sum(|s| s.keys);
                if keys > 0 {
                    let _ = write!(
                        out,
                        "db0:keys={keys},expires={},avg_ttl=0\r\n",
                        sum(|s| s.expiring)
                    );
                }
            }
        }
    }
    out
}
