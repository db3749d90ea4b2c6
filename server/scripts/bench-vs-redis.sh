#!/usr/bin/env bash
# The engine-efficiency benchmark: pincore-server against redis-server under the same client, side by side in
# one run, on loopback. Prints one markdown table per section and keeps every raw redis-benchmark CSV.
#
# Sections (SECTIONS, default "throughput percore tls memory echo"):
#   throughput  redis-benchmark -c CLIENTS -t set, then -t get, with pipeline 1 and 16 (PIPELINES), one hot key
#               and -r 1000000 random keys (KEYSPACES="hot random"), against every server in SERVERS; servers
#               alternate within each cell and the whole sweep repeats ROUNDS times.
#   percore     the same cells with the server pinned to CPU 0 (`taskset -c 0`, pincore with --cpus 0) and
#               redis-benchmark pinned to CPU 1: pincore1, redis (and baseline1).
#   tls         the percore cells with TLS on both sides: pincore1-tls (services.resp.tls, one shard on CPU 0)
#               against redis-tls (redis-server --port 0 --tls-port, on CPU 0), redis-benchmark --tls --cacert
#               on CPU 1 (and baseline1-tls with BASELINE); a throwaway CA and certificate from make-test-ca.sh.
#               Each client connection's handshake is in the run's CPU (50 per run).
#   memory      each server started fresh, VmRSS before and after loading MEM_KEYS distinct keys with 64-byte
#               values through `redis-cli --pipe` (DBSIZE checked): bytes of RSS per key.
#   echo        `pincore-bench compare --only echo`: pincore-server's echo service against the tokio echo
#               baseline, with server CPU per request.
# Columns: requests/s, p50 and p99 (redis-benchmark --csv); server CPU µs per request (utime + stime of the
# server process, all threads, /proc/PID/stat fields 14 and 15 in ticks of `getconf CLK_TCK`, read before and
# after each redis-benchmark run, over that run's requests); syscalls per request (a separate short run per
# server and cell under `strace -c -f -p PID`, which slows the server: counts only, not time).
#
# Servers (SERVERS, default "pincore pincore1 redis redis-io", plus "baseline baseline1" with BASELINE):
#   pincore    pincore-server, one shard per allowed CPU (release build of this tree)
#   pincore1   pincore-server --cpus 0 (one shard, like redis-server's one thread)
#   redis      redis-server --save '' --appendonly no
#   redis-io   the same with --io-threads 2 --io-threads-do-reads yes
#   baseline, baseline1   BASELINE=/path/to/pincore-server (an older release build), same settings as
#                         pincore and pincore1
#
# Usage: server/scripts/bench-vs-redis.sh [ROUNDS]
# Env: QUICK=1 (well under a minute: 1 round, small counts), ROUNDS (default 5), CLIENTS (50), N_PLAIN
# (100000 requests per run without pipelining), N_PIPELINED (1000000 with -P 16), N_STRACE_PLAIN (10000),
# N_STRACE_PIPELINED (160000), MEM_KEYS (1000000), ECHO_DURATION (5s), EXTRA (more redis-benchmark arguments,
# e.g. '-d 64'), SERVERS, SECTIONS, KEYSPACES, PIPELINES, BASELINE, OUT (raw CSV directory, default a new
# /tmp/pincore-bench.XXXXXX), RUN_TIMEOUT (seconds for any one client run, 600).
# Needs redis-server and redis-tools (redis-benchmark, redis-cli), strace, python3, taskset, and openssl for tls. Everything runs on
# loopback on this machine; nothing is changed on the host.
set -euo pipefail
cd "$(dirname "$0")/../.."

command_line=""
for var in QUICK ROUNDS CLIENTS N_PLAIN N_PIPELINED N_STRACE_PLAIN N_STRACE_PIPELINED MEM_KEYS ECHO_DURATION \
  EXTRA SERVERS SECTIONS KEYSPACES PIPELINES BASELINE OUT RUN_TIMEOUT CARGO_TARGET_DIR; do
  [[ -n "${!var+set}" ]] && command_line+="$var=$(printf '%q' "${!var}") "
done
command_line+="server/scripts/bench-vs-redis.sh${*:+ $*}"

quick=${QUICK:-0}
if [[ $quick == 1 ]]; then
  d_rounds=1 d_plain=3000 d_pipelined=32000 d_strace_plain=1000 d_strace_pipelined=16000 d_keys=100000
  d_echo=1s
else
  d_rounds=5 d_plain=100000 d_pipelined=1000000 d_strace_plain=10000 d_strace_pipelined=160000 d_keys=1000000
  d_echo=5s
fi
rounds=${ROUNDS:-${1:-$d_rounds}}
clients=${CLIENTS:-50}
n_plain=${N_PLAIN:-$d_plain}
n_pipelined=${N_PIPELINED:-$d_pipelined}
n_strace_plain=${N_STRACE_PLAIN:-$d_strace_plain}
n_strace_pipelined=${N_STRACE_PIPELINED:-$d_strace_pipelined}
mem_keys=${MEM_KEYS:-$d_keys}
echo_duration=${ECHO_DURATION:-$d_echo}
extra=${EXTRA:-}
sections=${SECTIONS:-throughput percore tls memory echo}
keyspaces=${KEYSPACES:-hot random}
pipelines=${PIPELINES:-1 16}
baseline=${BASELINE:-}
run_timeout=${RUN_TIMEOUT:-600}
servers=${SERVERS:-pincore pincore1 redis redis-io${baseline:+ baseline baseline1}}
target=${CARGO_TARGET_DIR:-target}

fail() { echo "bench-vs-redis: $*" >&2; exit 1; }
for n in rounds clients n_plain n_pipelined n_strace_plain n_strace_pipelined mem_keys run_timeout; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || fail "$n must be a positive whole number, not '${!n}'"
done
for s in $servers; do
  case $s in
    pincore | pincore1 | redis | redis-io) ;;
    baseline | baseline1) [[ -n $baseline ]] || fail "server $s needs BASELINE=/path/to/pincore-server" ;;
    *) fail "unknown server '$s' in SERVERS (pincore pincore1 redis redis-io baseline baseline1)" ;;
  esac
done
for s in $sections; do
  [[ $s =~ ^(throughput|percore|tls|memory|echo)$ ]] || fail "unknown section '$s' (throughput percore tls memory echo)"
done
for k in $keyspaces; do [[ $k =~ ^(hot|random)$ ]] || fail "unknown keyspace '$k' in KEYSPACES (hot random)"; done
for p in $pipelines; do [[ $p =~ ^[1-9][0-9]*$ ]] || fail "PIPELINES must be whole numbers, not '$p'"; done
[[ -z $baseline || -x $baseline ]] || fail "BASELINE=$baseline is not an executable file"
needs=(redis-benchmark redis-cli python3)
[[ " $sections " == *" throughput "* || " $sections " == *" percore "* || " $sections " == *" tls "* ]] && needs+=(strace taskset)
[[ " $sections " == *" tls "* ]] && needs+=(openssl redis-server)
[[ $servers == *redis* ]] && needs+=(redis-server)
for program in "${needs[@]}"; do
  command -v "$program" >/dev/null || fail "$program is not installed (Debian: apt-get install redis-server redis-tools strace util-linux python3)"
done
has() { [[ " $1 " == *" $2 "* ]]; }

out=${OUT:-$(mktemp -d /tmp/pincore-bench.XXXXXX)}
mkdir -p "$out/raw"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

build=(-p pincore-server)
has "$sections" echo && build+=(-p pincore-bench)
cargo build --release -q "${build[@]}"
bin="$target/release/pincore-server"
clk_tck=$(getconf CLK_TCK)

# Every process this script starts, stopped on exit by its own PID.
started=()
cleanup() {
  local pid
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# redis-cli and redis-benchmark arguments that reach server NAME: TLS with the run's CA for the *-tls servers.
client_tls() { [[ $1 == *-tls ]] && echo "--tls --cacert $out/tls/ca.pem"; true; }
tls_files="cert: \"$out/tls/server.pem\", key: \"$out/tls/server.key\""

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts server NAME on PORT (PIN: a CPU list for taskset, or empty) and sets $server_pid once it answers PING.
start_server() {
  local name=$1 port=$2 pin=$3 log="$out/$1-$2.log" prefix=()
  [[ -n $pin ]] && prefix=(taskset -c "$pin")
  local pincore_bin=$bin one_shard=()
  case $name in
    baseline*) pincore_bin=$baseline ;;
  esac
  case $name in
    pincore1* | baseline1*) one_shard=(--cpus "${pin:-0}") ;;
  esac
  local resp_tls=""
  [[ $name == *-tls ]] && resp_tls=", tls: {$tls_files}"
  case $name in
    pincore* | baseline*)
      printf 'services:\n  resp: {listen: "127.0.0.1:%s"%s}\n  echo: {enabled: false, listen: "127.0.0.1:0"}\n  admin: {enabled: false, listen: "127.0.0.1:0"}\nlog: {level: warn}\n' \
        "$port" "$resp_tls" > "$out/$name-$port.yaml"
      "${prefix[@]}" "$pincore_bin" --config "$out/$name-$port.yaml" "${one_shard[@]}" > "$log" 2>&1 &
      ;;
    redis)
      "${prefix[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        > "$log" 2>&1 &
      ;;
    redis-tls)
      "${prefix[@]}" redis-server --port 0 --tls-port "$port" --tls-cert-file "$out/tls/server.pem" \
        --tls-key-file "$out/tls/server.key" --tls-ca-cert-file "$out/tls/ca.pem" --tls-auth-clients no \
        --bind 127.0.0.1 --save '' --appendonly no --daemonize no > "$log" 2>&1 &
      ;;
    redis-io)
      "${prefix[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --io-threads 2 --io-threads-do-reads yes > "$log" 2>&1 &
      ;;
  esac
  server_pid=$!
  started+=("$server_pid")
  local _
  for _ in $(seq 200); do
    # shellcheck disable=SC2046 # client_tls is a list of arguments
    [[ $(redis-cli $(client_tls "$name") -p "$port" ping 2>/dev/null) == PONG ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || fail "$name exited at start-up; its log ($log) ends with: $(tail -5 "$log")"
    sleep 0.05
  done
  fail "$name did not answer PING on port $port within 10 s; see $log"
}

stop_server() { # pid
  local _
  kill "$1" 2>/dev/null || true
  for _ in $(seq 250); do kill -0 "$1" 2>/dev/null || break; sleep 0.02; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

alive() { # name pid
  kill -0 "$2" 2>/dev/null || fail "$1 (pid $2) died during the benchmark; see $out/$1-*.log"
}

# utime + stime of a process in clock ticks: fields 14 and 15 of /proc/PID/stat, counted after the last ')'
# (the command name, field 2, may contain spaces and parentheses).
cpu_ticks() {
  local stat rest
  read -r stat < "/proc/$1/stat"
  rest=${stat##*)}
  read -r -a f <<< "$rest"
  echo $((f[11] + f[12]))
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Waits (at most 10 s) until process $1 uses at most one clock tick in 200 ms. After FLUSHALL: redis-server
# frees the keys inside the command, pincore-server on a thread of its own after replying, and without this
# wait that freeing would be charged to the next cell's CPU (the first SET of each round).
settle() {
  local before after
  for _ in $(seq 50); do
    before=$(cpu_ticks "$1")
    sleep 0.2
    after=$(cpu_ticks "$1")
    [[ $((after - before)) -le 1 ]] && return 0
  done
}

# redis-benchmark arguments of one cell: pipeline, keyspace, test, requests.
bench_args() {
  local args=(-h 127.0.0.1 -c "$clients" -t "$3" -n "$4" --csv)
  [[ $1 -gt 1 ]] && args+=(-P "$1")
  [[ $2 == random ]] && args+=(-r 1000000)
  # shellcheck disable=SC2206 # EXTRA is a list of arguments
  args+=($extra)
  echo "${args[@]}"
}

requests_for() { if [[ $1 -gt 1 ]]; then echo "$2"; else echo "$3"; fi; }

# One measured redis-benchmark run: CPU ticks of the server before and after, raw CSV kept.
measure() { # section name pid port pipeline keys test round client_pin
  local section=$1 name=$2 pid=$3 port=$4 pipeline=$5 keys=$6 test=$7 round=$8 pin=$9 prefix=()
  local n raw before after
  n=$(requests_for "$pipeline" "$n_pipelined" "$n_plain")
  [[ -n $pin ]] && prefix=(taskset -c "$pin")
  raw="raw/$section-$name-P$pipeline-$keys-$test-r$round.csv"
  before=$(cpu_ticks "$pid")
  # shellcheck disable=SC2046 # bench_args and client_tls are lists of arguments
  timeout "$run_timeout" "${prefix[@]}" redis-benchmark $(client_tls "$name") -p "$port" $(bench_args "$pipeline" "$keys" "$test" "$n") \
    > "$out/$raw" 2> "$out/$raw.stderr" || fail "redis-benchmark against $name failed or timed out; see $out/$raw.stderr"
  after=$(cpu_ticks "$pid")
  alive "$name" "$pid"
  echo "$section,$name,$pipeline,$keys,$test,$round,$((after - before)),$n,$raw" >> "$out/runs.csv"
}

# One short run under `strace -c -f -p PID` (attached to the running server, detached after): syscall counts.
count_syscalls() { # section name pid port pipeline keys test client_pin
  local section=$1 name=$2 pid=$3 port=$4 pipeline=$5 keys=$6 test=$7 pin=$8 prefix=()
  local n file spid _ status attached
  n=$(requests_for "$pipeline" "$n_strace_pipelined" "$n_strace_plain")
  [[ -n $pin ]] && prefix=(taskset -c "$pin")
  file="raw/strace-$section-$name-P$pipeline-$keys-$test.txt"
  strace -c -f -U name,calls -S calls -o "$out/$file" -p "$pid" 2> "$out/$file.stderr" &
  spid=$!
  started+=("$spid")
  attached=0
  for _ in $(seq 500); do # until every thread of the server is traced, at most 10 s
    attached=1
    for status in /proc/"$pid"/task/*/status; do
      grep -q "^TracerPid:[[:space:]]*$spid\$" "$status" 2>/dev/null || { attached=0; break; }
    done
    [[ $attached == 1 ]] && break
    sleep 0.02
  done
  [[ $attached == 1 ]] || fail "strace could not attach to $name (pid $pid); see $out/$file.stderr"
  # shellcheck disable=SC2046 # bench_args and client_tls are lists of arguments
  timeout "$run_timeout" "${prefix[@]}" redis-benchmark $(client_tls "$name") -p "$port" $(bench_args "$pipeline" "$keys" "$test" "$n") \
    > "$out/$file.redis-benchmark.csv" 2>&1 \
    || fail "redis-benchmark under strace against $name failed; see $out/$file.redis-benchmark.csv"
  kill -INT "$spid"
  wait "$spid" 2>/dev/null || true
  alive "$name" "$pid"
  echo "$section,$name,$pipeline,$keys,$test,$n,$file" >> "$out/strace.csv"
}

# The cells of a section against running servers: $names, $pids, $ports (parallel arrays), client pinned to
# $client_pin. Servers alternate within every cell; the sweep repeats $rounds times, then one strace run each.
sweep() { # section client_pin
  local section=$1 pin=$2 round keys pipeline i test
  for round in $(seq "$rounds"); do
    for keys in $keyspaces; do
      for pipeline in $pipelines; do
        for i in "${!names[@]}"; do
          # shellcheck disable=SC2046 # client_tls is a list of arguments
          redis-cli $(client_tls "${names[$i]}") -p "${ports[$i]}" flushall > /dev/null
          settle "${pids[$i]}"
          for test in set get; do
            measure "$section" "${names[$i]}" "${pids[$i]}" "${ports[$i]}" "$pipeline" "$keys" "$test" "$round" "$pin"
          done
        done
      done
    done
    echo "$section: round $round of $rounds done" >&2
  done
  for keys in $keyspaces; do
    for pipeline in $pipelines; do
      for i in "${!names[@]}"; do
        # shellcheck disable=SC2046 # client_tls is a list of arguments
        redis-cli $(client_tls "${names[$i]}") -p "${ports[$i]}" flushall > /dev/null
        settle "${pids[$i]}"
        for test in set get; do
          count_syscalls "$section" "${names[$i]}" "${pids[$i]}" "${ports[$i]}" "$pipeline" "$keys" "$test" "$pin"
        done
      done
    done
  done
  echo "$section: strace runs done" >&2
}

start_all() { # server_pin server...
  local name port
  names=() pids=() ports=()
  for name in "${@:2}"; do
    port=$(free_port)
    start_server "$name" "$port" "$1"
    names+=("$name") pids+=("$server_pid") ports+=("$port")
  done
}
stop_all() { local pid; for pid in "${pids[@]}"; do stop_server "$pid"; done; }

# Which of SERVERS a section runs.
pick() { local s picked=(); for s in "$@"; do has "$servers" "$s" && picked+=("$s"); done; echo "${picked[@]}"; }

: > "$out/runs.csv"
: > "$out/strace.csv"
: > "$out/memory.csv"
: > "$out/echo.csv"
notes=()

if has "$sections" throughput; then
  read -r -a chosen <<< "$(pick pincore pincore1 redis redis-io baseline baseline1)"
  if [[ ${#chosen[@]} -gt 0 ]]; then
    start_all "" "${chosen[@]}"
    sweep throughput ""
    stop_all
  fi
fi

if has "$sections" percore; then
  read -r -a chosen <<< "$(pick pincore1 redis baseline1)"
  if [[ $(nproc) -lt 2 ]]; then
    notes+=("percore: skipped, it needs two CPUs (server on 0, client on 1) and this process may use $(nproc)")
  elif [[ ${#chosen[@]} -gt 0 ]]; then
    start_all 0 "${chosen[@]}"
    sweep percore 1
    stop_all
  fi
fi

if has "$sections" tls; then
  chosen=(pincore1-tls redis-tls)
  [[ -n $baseline ]] && chosen=(pincore1-tls baseline1-tls redis-tls)
  "$(dirname "$0")/make-test-ca.sh" "$out/tls"
  if [[ $(nproc) -lt 2 ]]; then
    notes+=("tls: skipped, it needs two CPUs (server on 0, client on 1) and this process may use $(nproc)")
  else
    start_all 0 "${chosen[@]}"
    sweep tls 1
    stop_all
  fi
fi

if has "$sections" memory; then
  read -r -a chosen <<< "$(pick pincore pincore1 redis baseline baseline1)"
  # SET mem:0000000000 ... with 64-byte values, in RESP, for redis-cli --pipe.
  cat > "$out/load-keys.py" <<'GEN'
import sys
n, value, out, chunk = int(sys.argv[1]), b"v" * 64, sys.stdout.buffer, []
for i in range(n):
    key = b"mem:%010d" % i
    chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n" % (len(key), key, value))
    if len(chunk) == 10000:
        out.write(b"".join(chunk))
        chunk = []
out.write(b"".join(chunk))
GEN
  for round in $(seq "$rounds"); do
    for name in "${chosen[@]}"; do
      port=$(free_port)
      start_server "$name" "$port" ""
      before=$(rss_kib "$server_pid")
      pipe_out=$(python3 "$out/load-keys.py" "$mem_keys" | timeout "$run_timeout" redis-cli -p "$port" --pipe 2>&1) \
        || fail "loading $mem_keys keys into $name failed: $pipe_out"
      [[ $pipe_out == *"errors: 0, replies: $mem_keys"* ]] || fail "redis-cli --pipe into $name: $pipe_out"
      dbsize=$(redis-cli -p "$port" dbsize)
      [[ $dbsize == "$mem_keys" ]] || fail "$name holds $dbsize keys after loading $mem_keys distinct keys"
      after=$(rss_kib "$server_pid")
      echo "$name,$round,$mem_keys,$dbsize,$before,$after" >> "$out/memory.csv"
      stop_server "$server_pid"
    done
    echo "memory: round $round of $rounds done" >&2
  done
fi

if has "$sections" echo; then
  mkdir -p "$out/echo"
  echo_args=(compare --only echo --rounds 1 --connections "$clients" --json)
  if [[ $quick == 1 && -z ${ECHO_DURATION:-} ]]; then echo_args+=(--quick); else echo_args+=(--duration "$echo_duration"); fi
  echo_builds=(current)
  [[ -n $baseline ]] && has "$servers" baseline && echo_builds+=(baseline)
  for round in $(seq "$rounds"); do
    for build in "${echo_builds[@]}"; do
      server_bin=()
      [[ $build == baseline ]] && server_bin=(--server-bin "$baseline")
      timeout "$run_timeout" "$target/release/pincore-bench" "${echo_args[@]}" "${server_bin[@]}" \
        --out "$out/echo/$build-r$round" > "$out/echo/$build-r$round.json" 2> "$out/echo/$build-r$round.stderr" \
        || fail "pincore-bench compare --only echo ($build) failed; see $out/echo/$build-r$round.stderr"
      echo "$build,echo/$build-r$round.json" >> "$out/echo.csv"
    done
    echo "echo: round $round of $rounds done" >&2
  done
fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "command=$command_line"
  echo "machine=$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r)"
  echo "load=$load_start at start, $load_end at end (1, 5, 15 min)"
  echo "versions=redis-server $(redis-server --version 2>/dev/null | grep -o 'v=[^ ]*' || echo 'not installed'), $(redis-benchmark --version 2>/dev/null | head -1); pincore-server $(git describe --always --dirty 2>/dev/null || echo unknown)${baseline:+; BASELINE $baseline}"
  echo "settings=rounds $rounds, $clients clients, requests per run $n_plain (pipeline 1) / $n_pipelined (pipelined), strace runs $n_strace_plain / $n_strace_pipelined, memory $mem_keys keys, extra redis-benchmark arguments: ${extra:-none}"
  echo "clk_tck=$clk_tck"
  echo "out=$out"
  for note in "${notes[@]}"; do echo "note=$note"; done
} > "$out/meta.txt"

python3 - "$out" <<'PY' | tee "$out/report.md"
import csv, json, os, statistics, sys

out = sys.argv[1]
meta, notes = {}, []
for line in open(os.path.join(out, "meta.txt")):
    key, _, value = line.rstrip("\n").partition("=")
    if key == "note":
        notes.append(value)
    else:
        meta[key] = value
clk_tck = int(meta["clk_tck"])
ORDER = ["pincore", "pincore1", "baseline", "baseline1", "redis", "redis-io", "pincore1-tls", "baseline1-tls", "redis-tls"]


def table(header, rows, right=()):
    """An aligned markdown table; columns whose index is in `right` are right-aligned."""
    cells = [header] + rows
    width = [max(len(r[i]) for r in cells) for i in range(len(header))]
    pad = lambda r: "| " + " | ".join(
        c.rjust(width[i]) if i in right else c.ljust(width[i]) for i, c in enumerate(r)) + " |"
    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(width)) + "|"
    return "\n".join([pad(header), rule] + [pad(r) for r in rows])


def spread(values, digits):
    """median (min–max); the spread is left out for a single round."""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def redis_csv(path):
    with open(os.path.join(out, path)) as f:
        row = next(r for r in csv.DictReader(f) if r.get("test") in ("SET", "GET"))
    return float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])


runs = {}
for section, name, pipeline, keys, test, _round, ticks, requests, raw in csv.reader(open(os.path.join(out, "runs.csv"))):
    rps, p50, p99 = redis_csv(raw)
    cpu_us = int(ticks) * 1e6 / clk_tck / int(requests)
    runs.setdefault((section, int(pipeline), keys, test.upper(), name), []).append((rps, p50, p99, cpu_us))

syscalls = {}
for section, name, pipeline, keys, test, requests, path in csv.reader(open(os.path.join(out, "strace.csv"))):
    counts = {}
    for line in open(os.path.join(out, path)):
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and not parts[0].startswith("-") and parts[0] != "syscall":
            counts[parts[0]] = int(parts[1])
    total = counts.pop("total", sum(counts.values()))
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:2]
    n = int(requests)
    syscalls[(section, int(pipeline), keys, test.upper(), name)] = (
        total / n, ", ".join(f"{k} {v / n:.3f}" for k, v in top))

print("# pincore engine-efficiency benchmark\n")
print(f"- machine: {meta['machine']}; load average {meta['load']}")
print(f"- {meta['versions']}")
print(f"- {meta['settings']}")
print(f"- command: `{meta['command']}`")
print(f"- raw CSV, strace summaries, logs: {meta['out']}")
for note in notes:
    print(f"- {note}")

TITLES = {
    "throughput": "Throughput and cost per request (client and servers unpinned, sharing all CPUs)",
    "percore": "Per core: server pinned to CPU 0 (`taskset -c 0`; pincore with `--cpus 0`), redis-benchmark to CPU 1",
    "tls": "TLS, per core: server pinned to CPU 0 with TLS on its RESP port (pincore `services.resp.tls`, one shard;"
           " redis-server `--tls-port`), `redis-benchmark --tls` pinned to CPU 1",
}
REFERENCE = {"tls": "redis-tls"}
for section in ("throughput", "percore", "tls"):
    cells = sorted({k[1:4] for k in runs if k[0] == section}, key=lambda c: (c[1] != "hot", c[0], c[2] != "SET"))
    if not cells:
        continue
    names = [s for s in ORDER if any(k[0] == section and k[4] == s for k in runs)]
    rounds = max(len(v) for k, v in runs.items() if k[0] == section)
    rows = []
    for pipeline, keys, test in cells:
        ref = runs.get((section, pipeline, keys, test, REFERENCE.get(section, "redis")))
        for name in names:
            v = runs.get((section, pipeline, keys, test, name))
            if not v:
                continue
            rps, p50, p99, cpu = ([x[i] for x in v] for i in range(4))
            sc = syscalls.get((section, pipeline, keys, test, name))
            ratio = lambda i: f"{statistics.median(x[i] for x in v) / statistics.median(x[i] for x in ref):.2f}" if ref else "-"
            rows.append([str(pipeline), "hot key" if keys == "hot" else "random", test, name,
                         spread(rps, 0), spread(p50, 3), spread(p99, 3), spread(cpu, 2),
                         f"{sc[0]:.3f}" if sc else "-", sc[1] if sc else "-", ratio(0), ratio(3)])
    print(f"\n## {TITLES[section]}\n")
    print(f"Median (min–max) over {rounds} round(s); servers alternate within each cell.\n")
    print(table(["pipeline", "keys", "test", "server", "requests/s", "p50 ms", "p99 ms", "CPU µs/req",
                 "syscalls/req", "top syscalls/req", "rps × redis", "CPU × redis"],
                rows, right={0, 4, 5, 6, 7, 8, 10, 11}))
    fewest = min(int(r[7]) for r in csv.reader(open(os.path.join(out, "runs.csv"))) if r[0] == section)
    print("\nCPU µs/req: the server's utime + stime (all threads, /proc/PID/stat) over each redis-benchmark run"
          " divided by that run's requests (connection set-up and redis-benchmark's CONFIG GETs included);"
          f" one tick is {1e6 / clk_tck:,.0f} µs, so the resolution is {1e6 / clk_tck / fewest:.2f} µs/req"
          f" for the shortest runs ({fewest:,} requests).")
    print("syscalls/req: one separate run per server and cell under `strace -c -f -p PID` (50-connection"
          " set-up included); strace slows the server, so these runs are for counts only and their time is not"
          " reported. Operations submitted through io_uring count once per io_uring_enter, not each.")
    print("× redis: this server's median over redis-server's in the same cell (rps: above 1 is faster;"
          " CPU: below 1 spends less).")

mem = {}
for name, _round, keys, dbsize, before, after in csv.reader(open(os.path.join(out, "memory.csv"))):
    mem.setdefault(name, []).append((int(keys), int(before), int(after)))
if mem:
    rows = []
    for name in [s for s in ORDER if s in mem]:
        v = mem[name]
        rows.append([name, f"{v[0][0]:,}", spread([b / 1024 for _, b, _ in v], 1), spread([a / 1024 for _, _, a in v], 1),
                     spread([(a - b) * 1024 / k for k, b, a in v], 1)])
    print("\n## Memory per key\n")
    v = next(iter(mem.values()))
    print(f"Each server started fresh, {v[0][0]:,} distinct keys (`mem:0000000000`…, 14 bytes) with 64-byte values"
          f" loaded with `redis-cli --pipe`, DBSIZE checked; median (min–max) over {len(v)} round(s).\n")
    print(table(["server", "keys", "RSS before MiB", "RSS after MiB", "RSS bytes/key"], rows, right={1, 2, 3, 4}))
    print("\nRSS bytes/key: (VmRSS after − VmRSS before) / keys. Hash tables grow by doubling, so the figure"
          " depends on where the key count falls in their growth; compare at the same key count.")

echo_runs = {}
for build, path in csv.reader(open(os.path.join(out, "echo.csv"))):
    for m in json.load(open(os.path.join(out, path)))["matchups"]:
        for c in m["contenders"]:
            name = c["name"] if c["name"] != "pincore-server" else ("pincore" if build == "current" else "baseline")
            if name == "tokio echo" and build != "current":
                continue  # the baseline's runs have their own tokio run; the current build's are the reference
            for r in c["runs"]:
                echo_runs.setdefault(name, []).append(r)
            load = m["load"]
if echo_runs:
    rows = []
    for name in [n for n in ("pincore", "baseline", "tokio echo") if n in echo_runs]:
        v = echo_runs[name]
        cpu = [r["server_cpu_us_per_request"] for r in v if r.get("server_cpu_us_per_request") is not None]
        rows.append([name, spread([r["rate"] for r in v], 0), spread([r["latency_us"]["p50_us"] / 1000 for r in v], 3),
                     spread([r["latency_us"]["p99_us"] / 1000 for r in v], 3), spread(cpu, 2) if cpu else "-"])
    print("\n## Echo (pincore-bench compare --only echo)\n")
    print(f"64-byte echo, {load}; median (min–max) over {len(echo_runs['pincore'])} round(s).\n")
    print(table(["server", "requests/s", "p50 ms", "p99 ms", "CPU µs/req"], rows, right={1, 2, 3, 4}))
    print("\nCPU µs/req: the server's CPU time over each whole run (warm-up included) divided by every reply"
          " of the run. pincore-server runs one shard per allowed CPU here.")
PY
