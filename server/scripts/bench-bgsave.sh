#!/usr/bin/env bash
# What a background snapshot costs the requests served meanwhile: redis-benchmark GET/SET latency (p50, p99,
# max) and the server's CPU per request against a keyspace of KEYS keys, with no save running and with BGSAVE
# running back to back for the whole run, alternating ROUNDS times in one run (timings on a shared machine are
# noisy: compare the pairs).
#
# usage: server/scripts/bench-bgsave.sh
# environment:
#   PINCORE_SERVER  the pincore-server binary (default: target/release/pincore-server, built if missing)
#   KEYS            keys loaded before measuring (default 1000000, 100-byte values)
#   REQUESTS        requests per redis-benchmark run (default 300000), CLIENTS (default 50)
#   ROUNDS          pairs of runs (default 2)
#   OUT             where the data directory and logs go (default: target/bench-bgsave)
# Needs redis-benchmark and redis-cli (redis-tools).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/target/bench-bgsave}
keys=${KEYS:-1000000}
requests=${REQUESTS:-300000}
clients=${CLIENTS:-50}
rounds=${ROUNDS:-2}
server=${PINCORE_SERVER:-${CARGO_TARGET_DIR:-$root/target}/release/pincore-server}
for program in redis-benchmark redis-cli python3; do
  command -v "$program" >/dev/null || { echo "$program is not installed (Debian: redis-tools)" >&2; exit 1; }
done
if [ ! -x "$server" ]; then
  (cd "$root" && cargo build --release -p pincore-server --bin pincore-server)
fi

rm -rf "$out" && mkdir -p "$out/data"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
cat >"$out/server.yaml" <<EOF
services:
  resp: {listen: 127.0.0.1:$port, settings: {persistence: {dir: $out/data, save_on_shutdown: false}}}
  echo: {listen: 127.0.0.1:$(free_port)}
  admin: {listen: 127.0.0.1:$(free_port)}
EOF
"$server" --config "$out/server.yaml" >"$out/server.log" 2>&1 &
pid=$!
saver=
cleanup() { [ -n "$saver" ] && kill "$saver" 2>/dev/null; kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

python3 - "$keys" <<'EOF' | redis-cli -p "$port" --pipe >/dev/null
import sys
value = "v" * 100
out = sys.stdout
for i in range(int(sys.argv[1])):
    key = f"key:{i:012d}"
    out.write(f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n${len(value)}\r\n{value}\r\n")
EOF
echo "loaded $(redis-cli -p "$port" dbsize) keys"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
field() { redis-cli -p "$port" info persistence | tr -d '\r' | sed -n "s/^$1://p"; }

# BGSAVE back to back until stopped; counts the saves and the seconds one takes.
save_loop() {
  while :; do
    redis-cli -p "$port" bgsave >/dev/null
    while [ "$(field rdb_bgsave_in_progress)" = 1 ]; do sleep 0.05; done
  done
}

hz=$(getconf CLK_TCK)
printf '%-8s %-4s %9s %9s %9s %9s %10s %12s\n' round test "req/s" p50_ms p99_ms max_ms cpu_us/req saves
for round in $(seq "$rounds"); do
  for mode in idle bgsave; do
    saves_before=$(field rdb_saves)
    if [ "$mode" = bgsave ]; then
      save_loop & saver=$!
      sleep 0.2
    fi
    ticks_before=$(cpu_ticks)
    csv=$(redis-benchmark -p "$port" -t get,set -n "$requests" -c "$clients" -r "$keys" -d 100 --csv 2>/dev/null)
    ticks_after=$(cpu_ticks)
    if [ -n "$saver" ]; then
      kill "$saver" && wait "$saver" 2>/dev/null || true
      saver=
      while [ "$(field rdb_bgsave_in_progress)" = 1 ]; do sleep 0.05; done
    fi
    saves=$(( $(field rdb_saves) - saves_before ))
    cpu_us=$(python3 -c "print(f'{($ticks_after - $ticks_before) / $hz * 1e6 / (2 * $requests):.1f}')")
    echo "$csv" | tr -d '"' | awk -F, -v r="$round" -v m="$mode" -v c="$cpu_us" -v s="$saves" \
      '$1 == "SET" || $1 == "GET" {printf "%-8s %-4s %9s %9s %9s %9s %10s %12s\n", r "/" m, $1, $2, $5, $7, $8, c, s}'
  done
done
echo "last save: $(field rdb_last_bgsave_time_sec) s; snapshot $(stat -c %s "$out/data/pincore.snapshot") bytes"
