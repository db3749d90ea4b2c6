#!/usr/bin/env bash
# Side-by-side throughput and latency of pincore-server and redis-server under redis-benchmark.
#
# Runs `redis-benchmark -t set,get -c 50` with and without `-P 16` against
#   pincore   pincore-server, one shard per allowed CPU (release build)
#   pincore1  pincore-server with --cpus 0 (one shard, like redis-server's one thread)
#   redis     redis-server --save '' --appendonly no
# in rounds that alternate the servers (A B C A B C ...), then prints medians and min-max spreads.
# Everything runs on loopback on this machine; nothing is changed on the host.
#
# Usage: server/scripts/bench-vs-redis.sh [ROUNDS]   (env: N_PLAIN, N_PIPELINED, CLIENTS, and EXTRA for more
# redis-benchmark arguments, e.g. EXTRA='-r 1000000' for random keys instead of one hot key)
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${1:-5}
n_plain=${N_PLAIN:-200000}
n_pipelined=${N_PIPELINED:-2000000}
clients=${CLIENTS:-50}
extra=${EXTRA:-}
target=${CARGO_TARGET_DIR:-target}
out=$(mktemp -d /tmp/pincore-bench.XXXXXX)

cargo build --release -q -p pincore-server
bin="$target/release/pincore-server"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pincore_port=$(free_port); pincore1_port=$(free_port); redis_port=$(free_port)

config() { # resp port
  printf 'services:\n  resp: {listen: "127.0.0.1:%s"}\n  echo: {enabled: false, listen: "127.0.0.1:0"}\n  admin: {enabled: false, listen: "127.0.0.1:0"}\nlog: {level: warn}\n' "$1"
}
config "$pincore_port" > "$out/pincore.yaml"
config "$pincore1_port" > "$out/pincore1.yaml"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$bin" --config "$out/pincore.yaml" 2> "$out/pincore.log" & pids+=($!)
"$bin" --config "$out/pincore1.yaml" --cpus 0 2> "$out/pincore1.log" & pids+=($!)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no > "$out/redis.log" 2>&1 & pids+=($!)
for port in "$pincore_port" "$pincore1_port" "$redis_port"; do
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r)"
echo "redis-server $(redis-server --version | grep -o 'v=[^ ]*'), $(redis-benchmark --version 2>/dev/null || echo redis-benchmark)"
echo "rounds: $rounds, clients: $clients, requests: $n_plain (plain) / $n_pipelined (-P 16), extra: ${extra:-none}, raw CSV in $out"

for round in $(seq "$rounds"); do
  for server in pincore pincore1 redis; do
    port_var="${server}_port"; port=${!port_var}
    redis-cli -p "$port" flushall >/dev/null
    redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -c "$clients" -n "$n_plain" $extra --csv \
      | sed "s/^/$server,plain,$round,/" >> "$out/results.csv"
    redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -c "$clients" -n "$n_pipelined" -P 16 $extra --csv \
      | sed "s/^/$server,P16,$round,/" >> "$out/results.csv"
  done
  echo "round $round done" >&2
done

python3 - "$out/results.csv" <<'PY'
import csv, statistics, sys
rows = {}
for r in csv.reader(open(sys.argv[1])):
    server, mode, _round, test = r[0], r[1], r[2], r[3]
    if test == "test":
        continue  # header line of each redis-benchmark run
    rps, p50, p99 = float(r[4]), float(r[8]), float(r[10])
    rows.setdefault((mode, test, server), []).append((rps, p50, p99))
def fmt(values, unit=""):
    return f"{statistics.median(values):,.0f}{unit} ({min(values):,.0f}–{max(values):,.0f})"
def fms(values):
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"
print("| pipeline | test | server | requests/s median (min–max) | p50 ms | p99 ms median (min–max) | vs redis (median rps) |")
print("|---|---|---|---|---|---|---|")
for mode in ("plain", "P16"):
    for test in ("SET", "GET"):
        redis = statistics.median(v[0] for v in rows[(mode, test, "redis")])
        for server in ("pincore", "pincore1", "redis"):
            v = rows[(mode, test, server)]
            rps = [x[0] for x in v]; p50 = [x[1] for x in v]; p99 = [x[2] for x in v]
            ratio = statistics.median(rps) / redis
            print(f"| {'none' if mode == 'plain' else '16'} | {test} | {server} | {fmt(rps)} | {statistics.median(p50):.3f} | {fms(p99)} | {ratio:.2f} |")
PY
