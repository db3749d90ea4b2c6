#!/usr/bin/env bash
# A quick paired comparison of server builds by CPU per request: each round starts every server in turn on
# loopback, drives it with the same redis-benchmark run and reads the server's utime + stime from /proc.
# Rounds alternate the servers, so drift on a shared machine falls on all of them alike; compare the
# per-round ratios, not single runs. (`bench-vs-redis.sh` is the full benchmark; this is for one A/B.)
#
# usage: server/scripts/ab-cpu.sh ROUNDS REQUESTS "SERVER..." [redis-benchmark arguments...]
#   SERVER is the path of a pincore-server binary, or `redis` for redis-server.
#   SHARDS=all runs pincore with a shard per CPU (default: one shard, --cpus 0).
#   Every run picks free loopback ports for its servers, so two runs on one machine never share one.
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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Free loopback ports for this run, so that runs side by side (or a server left over) do not collide.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis_port=$(free_port) pincore_port=$(free_port)
config=$(mktemp --suffix=.yaml)
printf 'services:\n  resp: {listen: 127.0.0.1:%s}\n  echo: {listen: 127.0.0.1:%s}\n  admin: {listen: 127.0.0.1:%s}\n' \
  "$pincore_port" "$(free_port)" "$(free_port)" >"$config"
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$config"; true' EXIT INT TERM

for round in $(seq "$rounds"); do
  for server in $servers; do
    if [ "$server" = redis ]; then
      port=$redis_port
      redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
    elif [ "${SHARDS:-one}" = all ]; then
      port=$pincore_port
      "$server" --config "$config" >/dev/null 2>&1 &
    else
      port=$pincore_port
      "$server" --config "$config" --cpus 0 >/dev/null 2>&1 &
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
