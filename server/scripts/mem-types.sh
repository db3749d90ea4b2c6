#!/usr/bin/env bash
# Memory of collections, pincore-server against redis-server, in the shapes of the data-types target: 1,000,000
# hashes of 5 fields (8-byte values), 100,000 lists of 100 12-byte elements and one sorted set of 1,000,000
# members, each loaded into a fresh server over loopback (redis-cli --pipe). Prints the growth of the server's
# resident memory (VmRSS) for each load, in bytes per hash, per list element and per member.
#
# usage: server/scripts/mem-types.sh "SERVER..."
#   SERVER is `redis` for redis-server, or the path of a pincore-server binary, one shard (--cpus 0); PATH:2
#   runs it with two shards (--cpus 0-1), so keys are split between two shards' tables.
#   QUICK=1 loads a tenth of each (100,000 hashes, 10,000 lists, 100,000 members).
# example: server/scripts/mem-types.sh "target/release/pincore-server target/release/pincore-server:2 redis"
set -euo pipefail

[ $# -eq 1 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
for program in redis-server redis-cli python3; do
  command -v "$program" >/dev/null || { echo "$program is not installed" >&2; exit 1; }
done
scale=1
[ "${QUICK:-0}" = 1 ] && scale=10
hashes=$((1000000 / scale)) lists=$((100000 / scale)) members=$((1000000 / scale))
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; true' EXIT INT TERM

# The loads as RESP, written once.
python3 - "$work" "$hashes" "$lists" "$members" <<'PY'
import sys
work, hashes, lists, members = sys.argv[1], *map(int, sys.argv[2:])
def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
with open(f"{work}/hashes.resp", "wb") as f:
    for i in range(hashes):
        fields = []
        for j in range(5):
            fields += [f"field{j}", f"{i:08d}"]
        f.write(command("HSET", f"hash:{i}", *fields))
with open(f"{work}/lists.resp", "wb") as f:
    for i in range(lists):
        f.write(command("RPUSH", f"list:{i}", *[f"element{k:05d}" for k in range(100)]))
with open(f"{work}/zset.resp", "wb") as f:
    for i in range(0, members, 1000):
        pairs = []
        for k in range(i, i + 1000):
            pairs += [k * 1.5, f"member:{k:07d}"]
        f.write(command("ZADD", "board", *pairs))
PY

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Starts SERVER on a fresh port; sets pid and port.
start() {
  port=$(free_port)
  if [ "$1" = redis ]; then
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
  else
    local binary=${1%:*} cpus=0
    [ "$binary" != "$1" ] && cpus=0-$((${1##*:} - 1))
    printf 'services:\n  resp: {listen: 127.0.0.1:%s}\n  echo: {listen: 127.0.0.1:%s}\n  admin: {listen: 127.0.0.1:%s}\n' \
      "$port" "$(free_port)" "$(free_port)" >"$work/config.yaml"
    "$binary" --config "$work/config.yaml" --cpus "$cpus" >/dev/null 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "$1 did not answer PING on port $port" >&2
  exit 1
}
stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}
# Loads FILE into a fresh SERVER; prints the RSS growth in KiB and CHECK's answer.
load() {
  start "$1"
  local empty
  empty=$(rss "$pid")
  redis-cli -p "$port" --pipe <"$work/$2" >/dev/null
  echo "$(($(rss "$pid") - empty)) $(redis-cli -p "$port" "${@:3}")"
  stop
}

echo "$(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg); $hashes hashes of 5 fields, $lists lists of 100," \
  "$members zset members"
printf '%-40s %12s %10s %12s %10s %12s %10s\n' server hashes_kib B/hash lists_kib B/element zset_kib B/member
for server in $1; do
  read -r h_kib h_check < <(load "$server" hashes.resp dbsize)
  read -r l_kib l_check < <(load "$server" lists.resp llen "list:$((lists - 1))")
  read -r z_kib z_check < <(load "$server" zset.resp zcard board)
  [ "$h_check" = "$hashes" ] && [ "$l_check" = 100 ] && [ "$z_check" = "$members" ] ||
    { echo "$server: loads incomplete (dbsize $h_check, llen $l_check, zcard $z_check)" >&2; exit 1; }
  printf '%-40s %12s %10s %12s %10s %12s %10s\n' "$server" \
    "$h_kib" $((h_kib * 1024 / hashes)) "$l_kib" $((l_kib * 1024 / (lists * 100))) "$z_kib" $((z_kib * 1024 / members))
done
