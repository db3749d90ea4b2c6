#!/usr/bin/env bash
# A quick paired comparison of server builds by CPU per request: each round starts every server in turn on
# loopback, drives it with the same redis-benchmark run and reads the server's utime + stime from /proc.
# Rounds alternate the servers, so drift on a shared machine falls on all of them alike; compare the
# per-round ratios, not single runs. (`bench-vs-redis.sh` is the full benchmark; this is for one A/B.)
#
# usage: server/scripts/ab-cpu.sh ROUNDS REQUESTS "SERVER..." [redis-benchmark arguments...]
#   SERVER is the path of a pincore-server binary, or `redis` for redis-server.
#   SHARDS=all runs pincore with a shard per CPU (default: one shard, --cpus 0).
#   PORT=N serves pincore's RESP on port N (and echo and admin on free ports) instead of the defaults 6380,
#   7007 and 9180, and redis-server on N+1 instead of 16399: two runs on one machine then never share a port.
# example: server/scripts/ab-cpu.sh 6 200000 "/tmp/old/pincore-server target/release/pincore-server redis" -t get,set
# Prints one line per round, server and test (`rps=`), and one `cpu_us_per_req=` line per round and server.
set -euo pipefail

[ $# -ge 3 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
rounds=$1 requests=$2 servers=$3
shift 3
for program in redis-benchmark redis-cli; do
  command -v "$program" >/dev/null || { echo "$program is not installed (Debian: apt-get install redis-tools)" >&2; exit 1; }
done
tick=$(getconf CLK_TCK)
pid=""
config=""
if [ -n "${PORT:-}" ]; then
  config=$(mktemp)
  printf 'services:\n  resp: {listen: 127.0.0.1:%s}\n  echo: {listen: 127.0.0.1:0}\n  admin: {listen: 127.0.0.1:0}\n' "$PORT" >"$config"
fi
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$config" ] && rm -f "$config"; true' EXIT INT TERM
pincore_port=${PORT:-6380}
redis_port=$((${PORT:-16398} + 1))

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for round in $(seq "$rounds"); do
  for server in $servers; do
    if [ "$server" = redis ]; then
      port=$redis_port
      redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
    else
      port=$pincore_port
      args=()
      [ -n "$config" ] && args+=(--config "$config")
      [ "${SHARDS:-one}" = all ] || args+=(--cpus 0)
      "$server" "${args[@]}" >/dev/null 2>&1 &
    fi
    pid=$!
    for _ in $(seq 100); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null || { echo "$server did not start on port $port" >&2; exit 1; }
    before=$(cpu_ticks "$pid")
    csv=$(timeout 600 redis-benchmark -p "$port" -n "$requests" -c 50 "$@" --csv | tail -n +2)
    after=$(cpu_ticks "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    tests=0
    while IFS=, read -r test rps _; do
      echo "$round $server ${test//\"/} rps=${rps//\"/}"
      tests=$((tests + 1))
    done <<<"$csv"
    echo "$round $server cpu_us_per_req=$(python3 -c "print(round(($after - $before) / $tick * 1e6 / ($requests * $tests), 2))")"
  done
done
