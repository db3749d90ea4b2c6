#!/usr/bin/env bash
# Memory of collections, pincore-server against redis-server: loads 100,000 hashes of 5 fields (8-byte
# values), one sorted set of 100,000 members and one list of 100,000 12-byte elements into a fresh server
# over loopback (redis-cli --pipe), and prints the server's resident memory (VmRSS) before and after each load.
#
# usage: server/scripts/mem-types.sh "SERVER..."
#   SERVER is the path of a pincore-server binary, or `redis` for redis-server. pincore runs one shard.
# example: server/scripts/mem-types.sh "target/release/pincore-server redis"
set -euo pipefail

[ $# -eq 1 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
for program in redis-server redis-cli python3; do
  command -v "$program" >/dev/null || { echo "$program is not installed" >&2; exit 1; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; true' EXIT INT TERM

# The loads as RESP, written once.
python3 - "$work" <<'PY'
import sys
def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
with open(f"{sys.argv[1]}/hashes.resp", "wb") as f:
    for i in range(100_000):
        fields = []
        for j in range(5):
            fields += [f"field{j}", f"{i:08d}"]
        f.write(command("HSET", f"hash:{i}", *fields))
with open(f"{sys.argv[1]}/zset.resp", "wb") as f:
    for i in range(0, 100_000, 1000):
        pairs = []
        for k in range(i, i + 1000):
            pairs += [k * 1.5, f"member:{k:06d}"]
        f.write(command("ZADD", "board", *pairs))
with open(f"{sys.argv[1]}/list.resp", "wb") as f:
    for i in range(0, 100_000, 1000):
        f.write(command("RPUSH", "queue", *[f"element{k:05d}" for k in range(i, i + 1000)]))
PY

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
for server in $1; do
  port=$(free_port)
  if [ "$server" = redis ]; then
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
  else
    printf 'services:\n  resp: {listen: 127.0.0.1:%s}\n  echo: {listen: 127.0.0.1:%s}\n  admin: {listen: 127.0.0.1:%s}\n' \
      "$port" "$(free_port)" "$(free_port)" >"$work/config.yaml"
    "$server" --config "$work/config.yaml" --cpus 0 >/dev/null 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  empty=$(rss "$pid")
  redis-cli -p "$port" --pipe <"$work/hashes.resp" >/dev/null
  hashes=$(rss "$pid")
  redis-cli -p "$port" --pipe <"$work/zset.resp" >/dev/null
  zset=$(rss "$pid")
  redis-cli -p "$port" --pipe <"$work/list.resp" >/dev/null
  list=$(rss "$pid")
  echo "$server empty_kib=$empty hashes_kib=$hashes (+$((hashes - empty))) zset_kib=$zset (+$((zset - hashes)))" \
    "list_kib=$list (+$((list - zset))) keys=$(redis-cli -p "$port" dbsize) zcard=$(redis-cli -p "$port" zcard board)" \
    "llen=$(redis-cli -p "$port" llen queue)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
done
