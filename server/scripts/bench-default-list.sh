#!/usr/bin/env bash
# redis-benchmark's whole default test list (PING_INLINE ... MSET) against pincore-server and redis-server,
# side by side: every round starts each server fresh in turn on loopback, runs `redis-benchmark -q -n N --csv`
# against it, and reads the server's CPU time (utime + stime from /proc/PID/stat) before and after.
# Prints, per test, the median requests/s of each server over the rounds and pincore's ratio to redis-server,
# then each server's CPU µs per request over the whole list; any error reply or failed test stops the run.
#
# usage: server/scripts/bench-default-list.sh [ROUNDS]       (default 3)
#   PINCORE=path of a pincore-server binary (default target/release/pincore-server, built if missing)
#   SHARDS=all (default: a shard per CPU, pincore's default) or a --cpus list such as 0 (one shard)
#   N (100000 requests per test), CLIENTS (50), EXTRA (more redis-benchmark arguments, e.g. "-P 16")
# example: SHARDS=0 server/scripts/bench-default-list.sh 3
set -euo pipefail

rounds=${1:-${ROUNDS:-3}}
n=${N:-100000}
clients=${CLIENTS:-50}
root=$(cd "$(dirname "$0")/../.." && pwd)
pincore=${PINCORE:-$root/target/release/pincore-server}
for program in redis-server redis-benchmark redis-cli python3; do
  command -v "$program" >/dev/null \
    || { echo "$program is not installed (Debian: apt-get install redis-server redis-tools python3)" >&2; exit 1; }
done
if [ ! -x "$pincore" ]; then
  (cd "$root" && cargo build --release -p pincore-server --bin pincore-server)
fi
tick=$(getconf CLK_TCK)
out=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start() { # server port
  if [ "$1" = redis ]; then
    redis-server --port "$2" --bind 127.0.0.1 --save '' --appendonly no >"$out/redis.log" 2>&1 &
  else
    printf 'services:\n  resp: {listen: 127.0.0.1:%s}\n  echo: {listen: 127.0.0.1:%s}\n  admin: {listen: 127.0.0.1:%s}\n' \
      "$2" "$(free_port)" "$(free_port)" >"$out/pincore.yaml"
    local cpus=()
    [ "${SHARDS:-all}" != all ] && cpus=(--cpus "$SHARDS")
    "$pincore" --config "$out/pincore.yaml" "${cpus[@]}" >"$out/pincore.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$2" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 did not start (log in $out)" >&2
  exit 1
}

echo "# redis-benchmark default tests, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# redis-benchmark -q -n $n -c $clients --csv ${EXTRA:-}; pincore shards: ${SHARDS:-all}; $rounds rounds; raw CSV in $out"
for round in $(seq "$rounds"); do
  for server in pincore redis; do
    port=$(free_port)
    start "$server" "$port"
    before=$(cpu_ticks "$pid")
    # shellcheck disable=SC2086
    redis-benchmark -p "$port" -q -n "$n" -c "$clients" --csv ${EXTRA:-} >"$out/$server.$round.csv" 2>"$out/$server.$round.err"
    after=$(cpu_ticks "$pid")
    echo "$((after - before))" >"$out/$server.$round.ticks"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    if grep -qi "error" "$out/$server.$round.err" "$out/$server.$round.csv"; then
      echo "$server, round $round: redis-benchmark reported errors:" >&2
      grep -i error "$out/$server.$round.err" "$out/$server.$round.csv" | head -5 >&2
      exit 1
    fi
  done
done

python3 - "$out" "$rounds" "$n" "$tick" <<'PY'
import csv, statistics, sys
out, rounds, n, tick = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rps, tests, cpu = {}, [], {}
for server in ("pincore", "redis"):
    for r in range(1, rounds + 1):
        rows = list(csv.DictReader(open(f"{out}/{server}.{r}.csv")))
        for row in rows:
            if row["test"] not in tests:
                tests.append(row["test"])
            rps.setdefault((server, row["test"]), []).append(float(row["rps"]))
        ticks = int(open(f"{out}/{server}.{r}.ticks").read())
        cpu.setdefault(server, []).append(ticks / tick * 1e6 / (n * len(rows)))
print("| test | pincore req/s | redis req/s | × redis (median; min–max over rounds) |")
print("|---|---:|---:|---:|")
below = []
for t in tests:
    p, r = rps[("pincore", t)], rps[("redis", t)]
    ratios = [a / b for a, b in zip(p, r)]
    ratio = statistics.median(p) / statistics.median(r)
    if ratio < 1.0:
        below.append(t)
    print(f"| {t} | {statistics.median(p):,.0f} | {statistics.median(r):,.0f} | {ratio:.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |")
pc, rc = statistics.median(cpu["pincore"]), statistics.median(cpu["redis"])
print(f"\nserver CPU µs per request over the whole list (median of rounds): pincore {pc:.2f}, redis-server {rc:.2f} "
      f"({pc / rc:.2f}×); per round pincore {', '.join(f'{c:.2f}' for c in cpu['pincore'])}, "
      f"redis {', '.join(f'{c:.2f}' for c in cpu['redis'])}")
print(f"tests below redis-server's requests/s: {', '.join(below) if below else 'none'}")
PY
