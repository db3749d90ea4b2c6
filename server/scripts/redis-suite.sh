#!/usr/bin/env bash
# Runs Redis's own test suite in external-server mode against pincore-server and, in the same run, against
# redis-server, and prints the pass counts side by side per test file, with every test pincore-server fails.
# A development check of RESP compatibility; it fetches nothing (bring Redis's source yourself).
#
# usage: server/scripts/redis-suite.sh REDIS_SOURCE [UNIT...]
#   REDIS_SOURCE  a Redis source tree at tag 7.0.15 (its `runtest` and `tests/`), e.g.
#                 git clone --depth 1 --branch 7.0.15 https://github.com/redis/redis /tmp/redis-7.0.15
#   UNIT          test files as runtest names them (default: the list below)
# environment:
#   PINCORE_SERVER  the pincore-server binary (default: target/release/pincore-server, built if missing)
#   OUT             where logs and the report go (default: target/redis-suite)
#   SHARDS=one      run pincore-server with one shard (default: a shard per CPU)
#   BASEPORT        runtest's --baseport (default 21111; its own port is 32 below): another value lets two
#                   runs share a machine
#   DURABLE=yes     run the suite with --durable: a test ending in an unexpected error reply (a command
#                   pincore-server lacks or declines) counts as failed and the file goes on, instead of
#                   the file stopping there (default: stop, as runtest does)
# Needs tclsh (Debian: tcl) and redis-server/redis-cli (redis-server, redis-tools).
set -euo pipefail

[ $# -ge 1 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
source_dir=$(cd "$1" && pwd)
shift
units=("$@")
[ ${#units[@]} -gt 0 ] || units=(
  unit/type/string unit/type/incr unit/expire unit/keyspace unit/protocol unit/quit unit/other
  unit/info-command unit/introspection unit/multi unit/pubsub unit/auth
)
[ -x "$source_dir/runtest" ] && [ -d "$source_dir/tests/unit" ] \
  || { echo "$source_dir is not a Redis source tree (no runtest or tests/unit)" >&2; exit 2; }
for program in tclsh redis-server redis-cli; do
  command -v "$program" >/dev/null \
    || { echo "$program is not installed (Debian: apt-get install tcl redis-server redis-tools)" >&2; exit 1; }
done

# Tests pincore-server cannot pass by design, skipped by name in its runs only (redis-server runs them all, so
# its count stays the denominator). Skipping them lets the rest of their file run: an unsupported command is an
# exception that ends the file. Each entry is `file|test name`.
# Replication: pincore-server is a master with a replication stream (SYNC, PSYNC), never a replica: the
# tests that make it one (REPLICAOF) or that need a replica's stale state or min-replicas-to-write stay out.
needs_replication=(
  'unit/multi|MULTI / EXEC with REPLICAOF'
  'unit/multi|exec with read commands and stale replica state change'  # REPLICAOF
)
# Scripting (EVAL, FUNCTION) and streams (XADD, XGROUP, ...), which pincore-server does not implement.
needs_unsupported=(
  'unit/multi|MULTI propagation of SCRIPT LOAD'  # scripting
  'unit/multi|MULTI propagation of EVAL'  # scripting
  'unit/multi|MULTI propagation of SCRIPT FLUSH'  # scripting
  'unit/multi|MULTI propagation of XREADGROUP'  # streams
  'unit/keyspace|COPY basic usage for stream'  # streams
  'unit/keyspace|COPY basic usage for stream-cgroups'  # streams
  'unit/introspection|MONITOR can log commands issued by the scripting engine'  # scripting
  'unit/introspection|MONITOR can log commands issued by functions'  # scripting
  'unit/multi|MULTI and script timeout'  # scripting
  'unit/multi|EXEC and script timeout'  # scripting
  'unit/multi|MULTI-EXEC body and script timeout'  # scripting
  'unit/multi|just EXEC and script timeout'  # scripting
  'unit/multi|Blocking commands ignores the timeout'  # streams
  'unit/pubsub|Keyspace notifications: stream events test'  # streams
)

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/target/redis-suite}
mkdir -p "$out"
server=${PINCORE_SERVER:-$root/target/release/pincore-server}
if [ ! -x "$server" ]; then
  (cd "$root" && cargo build --release -p pincore-server --bin pincore-server)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

wait_for() { # port pid name
  for _ in $(seq 100); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "$3 did not start on port $1 (log: $out/$3.log)" >&2
  exit 1
}

redis_port=$(free_port)
# DEBUG is allowed on both servers, so that each runs the tests that use it as far as it can.
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --enable-debug-command yes --dir "$out" \
  --logfile "$out/redis-server.log" &
pids+=($!)
wait_for "$redis_port" "$!" redis-server

pincore_port=$(free_port)
config=$out/pincore-server.yaml
# Snapshots on, as redis-server saves to its --dir: SAVE, BGSAVE and DEBUG RELOAD run on both.
rm -rf "$out/pincore-data" && mkdir -p "$out/pincore-data"
cat >"$config" <<EOF
services:
  resp: {listen: 127.0.0.1:$pincore_port, settings: {enable_debug_command: true, persistence: {dir: $out/pincore-data}}}
  echo: {listen: 127.0.0.1:$(free_port)}
  admin: {listen: 127.0.0.1:$(free_port)}
EOF
cpus=()
[ "${SHARDS:-all}" = one ] && cpus=(--cpus 0)
durable=()
[ "${DURABLE:-no}" = yes ] && durable=(--durable)
"$server" --config "$config" "${cpus[@]}" >"$out/pincore-server.log" 2>&1 &
pids+=($!)
wait_for "$pincore_port" "$!" pincore-server

# Counts of [ok], [err] and [exception] lines, and the failed tests' names, from one runtest log.
count() { sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -a -c "^\[$2\]" || true; }

report=$out/report.md
{
  echo "# Redis $(cd "$source_dir" && git describe --tags 2>/dev/null || echo 7.0.x) test suite, external mode"
  echo
  echo "| test file | redis-server ok | pincore-server ok | pincore err | pincore skipped | pincore stopped by |"
  echo "|---|---|---|---|---|---|"
} >"$report"
rm -f "$out/failures.txt.new"
total_redis=0 total_pincore=0
for unit in "${units[@]}"; do
  name=${unit//\//_}
  for peer in redis pincore; do
    port=$redis_port
    skips=()
    if [ $peer = pincore ]; then
      port=$pincore_port
      for entry in "${needs_replication[@]}" "${needs_unsupported[@]}"; do
        [ "${entry%%|*}" = "$unit" ] && skips+=(--skiptest "${entry#*|}")
      done
    fi
    # Each file in its own run: an exception (an unsupported command) ends only that file.
    (cd "$source_dir" && timeout 900 ./runtest --host 127.0.0.1 --port "$port" --singledb --single "$unit" \
      --timeout 60 ${BASEPORT:+--baseport "$BASEPORT"} "${skips[@]}" "${durable[@]}" >"$out/$name.$peer.log" 2>&1) || true
    # Both servers share one keyspace across files: start each file empty.
    redis-cli -p "$port" flushall >/dev/null 2>&1 || true
  done
  r_ok=$(count "$out/$name.redis.log" ok)
  p_ok=$(count "$out/$name.pincore.log" ok)
  p_err=$(count "$out/$name.pincore.log" err)
  stopped=$(sed 's/\x1b\[[0-9;]*m//g' "$out/$name.pincore.log" | grep -a -m1 -A1 '^\[exception\]' | tail -1 | cut -c1-80 || true)
  p_skipped=$(printf '%s\n' "${needs_replication[@]}" "${needs_unsupported[@]}" | grep -c "^$unit|" || true)
  echo "| $unit | $r_ok | $p_ok | $p_err | $p_skipped | ${stopped//|/\\|} |" >>"$report"
  total_redis=$((total_redis + r_ok))
  total_pincore=$((total_pincore + p_ok))
  sed 's/\x1b\[[0-9;]*m//g' "$out/$name.pincore.log" | grep -a -E '^\[(err|exception)\]' \
    | sed "s|^|$unit |" >>"$out/failures.txt.new" || true
done
mv -f "$out/failures.txt.new" "$out/failures.txt" 2>/dev/null || : >"$out/failures.txt"
{
  echo "| **total** | **$total_redis** | **$total_pincore** | | | |"
  echo
  echo "Skipped in pincore-server's runs: ${#needs_replication[@]} tests that need it to be a replica and" \
    "${#needs_unsupported[@]} that need scripting or streams (listed in $0)."
  echo
  echo "pincore-server passes $total_pincore of the $total_redis tests redis-server passes" \
    "($(python3 -c "print(round(100 * $total_pincore / max($total_redis, 1), 1))") %)."
  echo "Failures: $out/failures.txt; logs: $out/*.log"
} >>"$report"
cat "$report"
