#!/usr/bin/env bash
# Measures what attaching a replica costs the clients of a release pincore-server: the time every part is held
# while the dataset is copied for the replica (the server's own `paused_ms`, logged at each attach), and the
# longest PING round trip a client saw meanwhile. Loads KEYS string keys of 100 bytes over loopback with
# `redis-cli --pipe`, then attaches `redis-server --replicaof` ROUNDS times, one after another.
#
# usage: server/scripts/bench-sync-pause.sh [KEYS] [ROUNDS]     (default 1000000 3)
# environment: PINCORE_SERVER (default target/release/pincore-server), SHARDS=one for one shard.
# Needs redis-server, redis-cli and python3.
set -euo pipefail
keys=${1:-1000000} rounds=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
server=${PINCORE_SERVER:-$root/target/release/pincore-server}
for program in redis-server redis-cli python3; do
  command -v "$program" >/dev/null || { echo "$program is not installed" >&2; exit 1; }
done
[ -x "$server" ] || { echo "$server is not built (cargo build --release -p pincore-server)" >&2; exit 1; }
out=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT INT TERM

port=$(free_port)
cat >"$out/pincore.yaml" <<YAML
services:
  resp: {listen: 127.0.0.1:$port}
  echo: {listen: 127.0.0.1:$(free_port)}
  admin: {listen: 127.0.0.1:$(free_port)}
YAML
cpus=()
[ "${SHARDS:-all}" = one ] && cpus=(--cpus 0)
"$server" --config "$out/pincore.yaml" "${cpus[@]}" >"$out/pincore.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$root/server/scripts/load-keys.py" "$keys" | redis-cli -p "$port" --pipe >/dev/null
echo "loaded $(redis-cli -p "$port" dbsize) keys"

for round in $(seq "$rounds"); do
  replica_port=$(free_port)
  # A client pinging throughout: the longest round trip is what the attach cost a client.
  python3 "$root/server/scripts/ping-worst.py" "$port" 15 >"$out/ping.$round" &
  ping=$!
  sleep 1
  redis-server --port "$replica_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" \
    --replicaof 127.0.0.1 "$port" --logfile "$out/replica.$round.log" &
  replica=$!
  pids+=("$replica")
  for _ in $(seq 600); do
    redis-cli -p "$replica_port" info replication 2>/dev/null | grep -q master_link_status:up && break
    sleep 0.1
  done
  wait "$ping"
  paused=$(grep -o 'paused_ms=[0-9]*' "$out/pincore.log" | tail -1)
  echo "round $round: $paused, longest PING round trip $(cat "$out/ping.$round") ms," \
    "replica keys $(redis-cli -p "$replica_port" dbsize)"
  kill "$replica"; wait "$replica" 2>/dev/null || true
done
