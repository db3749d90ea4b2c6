//! INFO: the server, clients, stats and keyspace sections, from every shard's snapshot.

use std::fmt::Write;

use pincore_resp::reply::{self, Protocol};

use super::{Resp, COMMANDS_TOTAL, KEYS, KEYS_EXPIRING};
use crate::framework::{Service, ServiceSnapshot, ShardSnapshot};

const SECTIONS: [&str; 4] = ["server", "clients", "stats", "keyspace"];

/// INFO's arguments: the sections asked for, lower-cased.
pub fn sections(args: &[&[u8]]) -> Vec<String> {
    args[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect()
}

/// INFO's reply once every shard's snapshot is in.
pub fn reply(
    resp: &Resp,
    requested: &[String],
    snapshots: &[ShardSnapshot],
    protocol: Protocol,
    out: &mut Vec<u8>,
) {
    // RESP3 marks it as plain text, as Redis does; RESP2 sends the same text as a bulk string.
    reply::verbatim(
        out,
        protocol,
        b"txt",
        render(resp, requested, snapshots).as_bytes(),
    );
}

/// Renders the requested sections (all of them for none, `default`, `all` or `everything`).
pub fn render(resp: &Resp, requested: &[String], snapshots: &[ShardSnapshot]) -> String {
    let everything = requested.is_empty()
        || requested
            .iter()
            .any(|s| matches!(s.as_str(), "default" | "all" | "everything"));
    let wanted = |name: &str| everything || requested.iter().any(|s| s == name);
    let ctx = &resp.ctx;
    let config = ctx.config();
    let sum = |name: &str| snapshots.iter().map(|s| s.sum_of(name)).sum::<u64>();
    let resp_sum = |pick: fn(&ServiceSnapshot) -> u64| {
        snapshots
            .iter()
            .filter_map(|s| s.service(Resp::NAME))
            .map(pick)
            .sum::<u64>()
    };
    let mut out = String::new();
    for section in SECTIONS.iter().filter(|s| wanted(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => {
                let _ = write!(
                    out,
                    "# Server\r\nredis_version:{}\r\npincore_version:{}\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nshards:{}\r\n",
                    super::commands::REDIS_VERSION,
                    env!("CARGO_PKG_VERSION"),
                    std::process::id(),
                    config.services.resp.listen.port(),
                    ctx.started().elapsed().as_secs(),
                    ctx.shards(),
                );
            }
            "clients" => {
                let _ = write!(
                    out,
                    "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n",
                    resp_sum(|s| s.open),
                    config.limits.max_connections_per_shard * ctx.shards(),
                );
            }
            "stats" => {
                let resp = resp_sum;
                let commands = sum(COMMANDS_TOTAL);
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
                let keys = sum(KEYS);
                if keys > 0 {
                    let _ = write!(
                        out,
                        "db0:keys={keys},expires={},avg_ttl=0\r\n",
                        sum(KEYS_EXPIRING)
                    );
                }
            }
        }
    }
    out
}
