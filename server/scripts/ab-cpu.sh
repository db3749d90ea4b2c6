#!/usr/bin/env bash
# A quick paired comparison of server builds by CPU per request: each round starts every server in turn on
# loopback, drives it with the same redis-benchmark run and reads the server's utime + stime from /proc.
# Rounds alternate the servers, so drift on a shared machine falls on all of them alike; compare the
# per-round ratios, not single runs. (`bench-vs-redis.sh` is the full benchmark; this is for one A/B.)
#
# usage: server/scripts/ab-cpu.sh ROUNDS REQUESTS "SERVER..." [redis-benchmark arguments...]
#   SERVER is the path of a pincore-server binary, or `redis` for redis-server.
#   SHARDS=all runs pincore with a shard per CPU (default: one shard, --cpus 0).
#   TLS=1 puts every server behind TLS (a throwaway CA and certificate from make-test-ca.sh; pincore's
#   services.resp.tls, redis-server's --tls-port) and drives them with redis-benchmark --tls.
#   Every run picks free loopback ports for its servers, so two runs on one machine never share one.
# example: server/scripts/ab-cpu.sh 6 200000 "/tmp/old/pincore-server target/release/pincore-server redis" -t get,set
#          TLS=1 server/scripts/ab-cpu.sh 4 100000 "target/release/pincore-server redis" -t get,set
# Prints one line per round, server and test (`rps=`), and one `cpu_us_per_req=` line per round and server.
set -euo pipefail

[ $# -ge 3 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
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
tls_dir=$(mktemp -d)
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$config" "$tls_dir"; true' EXIT INT TERM
resp_tls="" redis_tls=() client_tls=()
if [ "${TLS:-0}" = 1 ]; then
  "$(dirname "$0")/make-test-ca.sh" "$tls_dir"
  resp_tls=", tls: {cert: $tls_dir/server.pem, key: $tls_dir/server.key}"
  redis_tls=(--tls-cert-file "$tls_dir/server.pem" --tls-key-file "$tls_dir/server.key"
    --tls-ca-cert-file "$tls_dir/ca.pem" --tls-auth-clients no)
  client_tls=(--tls --cacert "$tls_dir/ca.pem")
fi
printf 'services:\n  resp: {listen: 127.0.0.1:%s%s}\n  echo: {listen: 127.0.0.1:%s}\n  admin: {listen: 127.0.0.1:%s}\n' \
  "$pincore_port" "$resp_tls" "$(free_port)" "$(free_port)" >"$config"

for round in $(seq "$rounds"); do
  for server in $servers; do
    if [ "$server" = redis ]; then
      port=$redis_port
      if [ ${#redis_tls[@]} -gt 0 ]; then
        redis-server --port 0 --tls-port "$port" "${redis_tls[@]}" --bind 127.0.0.1 --save '' --appendonly no \
          >/dev/null 2>&1 &
      else
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
      fi
    elif [ "${SHARDS:-one}" = all ]; then
      port=$pincore_port
      "$server" --config "$config" >/dev/null 2>&1 &
    else
      port=$pincore_port
      "$server" --config "$config" --cpus 0 >/dev/null 2>&1 &
    fi
    pid=$!
    for _ in $(seq 100); do
      redis-cli "${client_tls[@]}" -p "$port" ping 2>/dev/null | grep -q PONG && break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null || { echo "$server did not start on port $port" >&2; exit 1; }
    before=$(cpu_ticks "$pid")
    csv=$(timeout 600 redis-benchmark "${client_tls[@]}" -p "$port" -n "$requests" -c 50 "$@" --csv | tail -n +2)
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
