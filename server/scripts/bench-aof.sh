#!/usr/bin/env bash
# What the append-only file costs, pincore-server against redis-server side by side on loopback:
#  1. writes: redis-benchmark SET (random keys) against each server with the file off, `appendfsync everysec`
#     and `appendfsync always`, rounds alternating the servers; server CPU per request (utime + stime of the
#     whole process from /proc, writer and fsync threads included) and requests/s;
#  2. rewrites: KEYS string keys of 100 bytes loaded, then BGREWRITEAOF REWRITES times while a client pings:
#     pincore's pause (every part held while the keyspace is encoded, its log's `paused_ms`) and the longest
#     PING round trip against redis-server's fork (`latest_fork_usec`) and its longest round trip.
#
# usage: server/scripts/bench-aof.sh [ROUNDS] [REQUESTS] [KEYS] [REWRITES]   (default 3 200000 1000000 2)
# environment: PINCORE_SERVER (default target/release/pincore-server); SHARDS=all for a shard per CPU
# (default one shard, --cpus 0, as single-threaded redis-server); DIR for the servers' files (default a
# temporary directory: put it on the disk you mean to measure; fsync on tmpfs costs nothing).
# Needs redis-server, redis-cli, redis-benchmark and python3.
set -euo pipefail
rounds=${1:-3} requests=${2:-200000} keys=${3:-1000000} rewrites=${4:-2}
root=$(cd "$(dirname "$0")/../.." && pwd)
server=${PINCORE_SERVER:-$root/target/release/pincore-server}
for program in redis-server redis-cli redis-benchmark python3; do
  command -v "$program" >/dev/null || { echo "$program is not installed" >&2; exit 1; }
done
[ -x "$server" ] || { echo "$server is not built (cargo build --release -p pincore-server)" >&2; exit 1; }
out=$(mktemp -d ${DIR:+-p "$DIR"})
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT INT TERM
cpus=(--cpus 0)
[ "${SHARDS:-one}" = all ] && cpus=()
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The servers are started in a subshell, so they are not this shell's children: wait for the process to go.
stop() { kill "$1" 2>/dev/null || true; for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; }
wait_up() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done; echo "port $1 never answered" >&2; exit 1; }

# Starts `pincore` or `redis` with the file in mode `off`, `everysec` or `always` in directory $3; prints
# "pid port".
start() {
  local which=$1 mode=$2 dir=$3 port
  port=$(free_port)
  mkdir -p "$dir"
  if [ "$which" = redis ]; then
    local aof=(--appendonly no)
    [ "$mode" != off ] && aof=(--appendonly yes --appendfsync "$mode")
    redis-server --port "$port" --bind 127.0.0.1 --save "" "${aof[@]}" --dir "$dir" \
      --logfile "$dir/redis.log" &
  else
    local persistence="{dir: $dir, save_on_shutdown: false}"
    [ "$mode" != off ] && persistence="{dir: $dir, save_on_shutdown: false, appendonly: true, appendfsync: $mode}"
    cat >"$dir/pincore.yaml" <<YAML
services:
  resp: {listen: 127.0.0.1:$port, settings: {persistence: $persistence}}
  echo: {listen: 127.0.0.1:$(free_port)}
  admin: {listen: 127.0.0.1:$(free_port)}
YAML
    "$server" --config "$dir/pincore.yaml" "${cpus[@]}" >"$dir/pincore.log" 2>&1 &
  fi
  local pid=$!
  pids+=("$pid")
  wait_up "$port"
  echo "$pid $port"
}

echo "# append-only file: writes (redis-benchmark -t set -r 100000 -c 50 -n $requests, $rounds rounds)"
echo "round server mode rps cpu_us_per_req"
for round in $(seq "$rounds"); do
  for mode in off everysec always; do
    for which in pincore redis; do
      dir="$out/$round-$mode-$which"
      read -r pid port < <(start "$which" "$mode" "$dir")
      pids+=("$pid")
      before=$(cpu_ticks "$pid")
      rps=$(redis-benchmark -p "$port" -t set -r 100000 -c 50 -n "$requests" -q 2>/dev/null \
        | tr '\r' '\n' | grep -o 'SET: [0-9.]* requests per second' | awk '{print $2}')
      after=$(cpu_ticks "$pid")
      awk -v r="$round" -v w="$which" -v m="$mode" -v rps="$rps" -v t=$((after - before)) -v hz="$ticks" \
        -v n="$requests" 'BEGIN { printf "%s %s %s %.0f %.2f\n", r, w, m, rps, t / hz * 1e6 / n }'
      stop "$pid"
      rm -rf "$dir"
    done
  done
done

echo
echo "# append-only file: rewrites of $keys keys of 100 bytes ($rewrites each)"
load() {
  python3 "$root/server/scripts/load-keys.py" "$keys" | redis-cli -p "$1" --pipe >/dev/null
}
rewriting() { redis-cli -p "$1" info persistence | grep -Eq 'aof_rewrite_in_progress:1|aof_rewrite_scheduled:1'; }
for which in pincore redis; do
  dir="$out/rewrite-$which"
  read -r pid port < <(start "$which" everysec "$dir")
  pids+=("$pid")
  load "$port"
  while rewriting "$port"; do sleep 0.1; done
  for i in $(seq "$rewrites"); do
    python3 "$root/server/scripts/ping-worst.py" "$port" 12 >"$dir/ping" &
    ping=$!
    sleep 1
    started=$(date +%s.%N)
    redis-cli -p "$port" bgrewriteaof >/dev/null
    sleep 0.2
    while rewriting "$port"; do sleep 0.05; done
    took=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    wait "$ping"
    if [ "$which" = redis ]; then
      pause="fork $(redis-cli -p "$port" info stats | tr -d '\r' | awk -F: '/^latest_fork_usec/ { printf "%.0f ms", $2 / 1000 }')"
    else
      pause="paused $(grep -o 'paused_ms=[0-9]*' "$dir/pincore.log" | tail -1 | cut -d= -f2) ms"
    fi
    echo "$which rewrite $i: $(redis-cli -p "$port" dbsize) keys, $pause, longest PING $(cat "$dir/ping") ms, done in ${took} s, base $(ls -l "$dir"/appendonlydir/*.base.* | awk '{print $5}') bytes"
  done
  stop "$pid"
done
