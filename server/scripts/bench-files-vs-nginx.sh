#!/usr/bin/env bash
# Static files: pincore-server's files service against nginx (sendfile on, tcp_nopush on, one worker per CPU),
# same directory, same wrk client, side by side in one run, on loopback. Prints one markdown table.
#
# Servers: pincore (sendfile), pincore-rw (the same binary with `settings.sendfile: false`: bodies read and
# written, the fallback's cost), baseline and baseline-rw (the same two for BASELINE=/path/to/an older
# pincore-server; `sendfile: false` needs a build that knows the setting) and nginx.
# For each file size (SIZES, default "1k 64k 10m") the servers alternate, ROUNDS times (default 1): one
# `wrk -t THREADS -c CONNS -d DURATION --latency` run each. Columns: requests/s, bytes/s and p99 as wrk
# reports them, wrk's timeouts and errors, and server CPU seconds per GB sent: utime + stime (/proc/PID/stat
# fields 14 and 15, ticks of `getconf CLK_TCK`) of every server process — pincore-server's one process,
# nginx's master and all its workers summed — read before and after the run, over the bytes wrk read. A
# second table gives each server's median (min–max over rounds) and its ratio to nginx's median.
#
# Usage: server/scripts/bench-files-vs-nginx.sh
# Env: PINCORE (the binary, default $CARGO_TARGET_DIR/release/pincore-server or target/release/...), BASELINE,
# SERVERS (default "pincore pincore-rw nginx", plus "baseline" with BASELINE), SIZES, ROUNDS, DURATION (10s),
# CONNS (50), THREADS (1), OUT (work directory, default a new /tmp/pincore-files.XXXXXX).
# Needs nginx, wrk, python3. Everything listens on 127.0.0.1 and is stopped at the end; nothing is changed on
# the host. Client and servers share the machine's CPUs: compare the columns side by side, not with other hosts.
set -euo pipefail
cd "$(dirname "$0")/../.."

PINCORE=${PINCORE:-${CARGO_TARGET_DIR:-target}/release/pincore-server}
BASELINE=${BASELINE:-}
default_servers="pincore pincore-rw nginx"
[ -n "$BASELINE" ] && default_servers="pincore baseline pincore-rw nginx"
SERVERS=${SERVERS:-$default_servers}
SIZES=${SIZES:-"1k 64k 10m"}
ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1}
OUT=${OUT:-$(mktemp -d /tmp/pincore-files.XXXXXX)}
for tool in nginx wrk python3; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (Debian: apt-get install nginx wrk python3)" >&2; exit 2; }
done
[ -x "$PINCORE" ] || { echo "$PINCORE is not built: cargo build --release -p pincore-server" >&2; exit 2; }
[[ " $SERVERS " != *" baseline"* ]] || [ -x "$BASELINE" ] || { echo "BASELINE=$BASELINE is not an executable" >&2; exit 2; }

root="$OUT/root"
mkdir -p "$root" "$OUT/nginx"
declare -A bytes=([1k]=1024 [64k]=65536 [10m]=10485760 [1m]=1048576)
for size in $SIZES; do
    [ -n "${bytes[$size]:-}" ] || { echo "unknown size $size (1k, 64k, 1m, 10m)" >&2; exit 2; }
    head -c "${bytes[$size]}" /dev/urandom > "$root/f$size.bin"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A port pid
for server in $SERVERS; do
    case $server in pincore | pincore-rw | baseline | baseline-rw | nginx) ;; *) echo "unknown server $server" >&2; exit 2 ;; esac
    port[$server]=$(free_port)
done
cpus=$(nproc)

# Workers run as this user (root would otherwise hand them to www-data, which cannot read $OUT).
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
cat > "$OUT/nginx/nginx.conf" <<EOF
$user_line
worker_processes $cpus;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $OUT/nginx/body;
    proxy_temp_path $OUT/nginx/proxy;
    fastcgi_temp_path $OUT/nginx/fastcgi;
    uwsgi_temp_path $OUT/nginx/uwsgi;
    scgi_temp_path $OUT/nginx/scgi;
    types { application/octet-stream bin; }
    server { listen 127.0.0.1:${port[nginx]:-$(free_port)}; root $root; }
}
EOF
# pincore's configuration for server $1: sendfile unless it is a -rw one.
pincore_config() {
    local sendfile=true
    [[ $1 == *-rw ]] && sendfile=false
    cat > "$OUT/$1.yaml" <<EOF
services:
  resp: {enabled: false}
  echo: {enabled: false}
  admin: {enabled: false}
  files: {listen: 127.0.0.1:${port[$1]}, settings: {root: $root, sendfile: $sendfile}}
limits: {max_connections_per_ip: 4096}
log: {level: warn}
EOF
    # An older build may not know `sendfile`; it always uses it.
    [ "$1" = baseline ] && sed -i 's/, sendfile: true//' "$OUT/$1.yaml"
    true
}

pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
for server in $SERVERS; do
    case $server in
        nginx) nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -g 'daemon off;' 2>>"$OUT/nginx/error.log" & ;;
        baseline*) pincore_config "$server"; "$BASELINE" --config "$OUT/$server.yaml" 2>"$OUT/$server.log" & ;;
        *) pincore_config "$server"; "$PINCORE" --config "$OUT/$server.yaml" 2>"$OUT/$server.log" & ;;
    esac
    pids+=($!)
    pid[$server]=$!
done
for server in $SERVERS; do
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:${port[$server]}/f${SIZES%% *}.bin" && break
        sleep 0.1
    done
done

# utime + stime ticks of a process and its children (nginx's workers), summed.
ticks() {
    local all=("$1") total=0
    all+=($(pgrep -P "$1" || true))
    for p in "${all[@]}"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$total"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
results="$OUT/results.tsv"
: > "$results"
for round in $(seq "$ROUNDS"); do
    for size in $SIZES; do
        for server in $SERVERS; do
            before=$(ticks "${pid[$server]}")
            wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" --latency "http://127.0.0.1:${port[$server]}/f$size.bin" > "$OUT/wrk-$server-$size-$round.txt"
            after=$(ticks "${pid[$server]}")
            printf '%s\t%s\t%s\t%s\n' "$server" "$size" "$((after - before))" "$OUT/wrk-$server-$size-$round.txt" >> "$results"
        done
    done
done

python3 - "$results" "$(getconf CLK_TCK)" <<'EOF'
import re, statistics, sys
rows, hz = sys.argv[1], int(sys.argv[2])
units = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
def seconds(v):
    n, u = re.fullmatch(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 1e-6, "ms": 1e-3, "s": 1}[u]
print("| size | server | requests/s | bytes/s | p99 | server CPU s per GB | errors |")
print("|---|---|---:|---:|---:|---:|---|")
cells = {}
for line in open(rows):
    server, size, ticks, path = line.rstrip("\n").split("\t")
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"(\d+) requests in ([\d.]+m?s), ([\d.]+)(\w+) read", text)
    read = float(m.group(3)) * units[m.group(4)]
    elapsed = seconds(m.group(2))
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)
    errors = "; ".join(re.findall(r"Non-2xx or 3xx responses: \d+|Socket errors: .*", text)) or "none"
    cpu = int(ticks) / hz
    per_gb = cpu / (read / 1e9)
    cells.setdefault((size, server), []).append((rps, read / elapsed, per_gb))
    print(f"| {size} | {server} | {rps:,.0f} | {read / elapsed / (1 << 20):,.1f} MiB/s | {p99} | {per_gb:.2f} | {errors} |")
print()
print("Median (min–max) over rounds; × nginx: this server's median over nginx's median in the same run.")
print()
print("| size | server | requests/s | × nginx | CPU s per GB | × nginx |")
print("|---|---|---:|---:|---:|---:|")
def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"
for (size, server), runs in cells.items():
    rps = [r[0] for r in runs]
    gb = [r[2] for r in runs]
    ref = cells.get((size, "nginx"))
    x_rps = f"{statistics.median(rps) / statistics.median([r[0] for r in ref]):.2f}" if ref else "–"
    x_gb = f"{statistics.median(gb) / statistics.median([r[2] for r in ref]):.2f}" if ref else "–"
    print(f"| {size} | {server} | {spread(rps, lambda v: f'{v:,.0f}')} | {x_rps} | {spread(gb, lambda v: f'{v:.3f}')} | {x_gb} |")
EOF
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, kernel $(uname -r); $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); load average $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end (1, 5, 15 min)"
echo "command: BASELINE=${BASELINE:-} SERVERS=\"$SERVERS\" SIZES=\"$SIZES\" ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS server/scripts/bench-files-vs-nginx.sh"
echo "raw wrk output: $OUT"
