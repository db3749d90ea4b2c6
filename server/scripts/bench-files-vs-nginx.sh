#!/usr/bin/env bash
# Static files: pincore-server's files service against nginx (sendfile on, tcp_nopush on, one worker per CPU),
# same directory, same wrk client, side by side in one run, on loopback. Prints one markdown table.
#
# For each file size (SIZES, default "1k 64k 10m") the servers alternate, ROUNDS times (default 1): one
# `wrk -t THREADS -c CONNS -d DURATION --latency` run each. Columns: requests/s, bytes/s and p99 as wrk
# reports them, and server CPU seconds per GB sent: utime + stime (/proc/PID/stat fields 14 and 15, ticks of
# `getconf CLK_TCK`) of every server process — pincore-server's one process, nginx's master and all its
# workers summed — read before and after the run, over the bytes wrk read.
#
# Usage: server/scripts/bench-files-vs-nginx.sh
# Env: PINCORE (the binary, default $CARGO_TARGET_DIR/release/pincore-server or target/release/...), SIZES,
# ROUNDS, DURATION (10s), CONNS (50), THREADS (1), OUT (work directory, default a new /tmp/pincore-files.XXXXXX).
# Needs nginx, wrk, python3. Everything listens on 127.0.0.1 and is stopped at the end; nothing is changed on
# the host. Client and servers share the machine's CPUs: compare the columns side by side, not with other hosts.
set -euo pipefail
cd "$(dirname "$0")/../.."

PINCORE=${PINCORE:-${CARGO_TARGET_DIR:-target}/release/pincore-server}
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

root="$OUT/root"
mkdir -p "$root" "$OUT/nginx"
declare -A bytes=([1k]=1024 [64k]=65536 [10m]=10485760 [1m]=1048576)
for size in $SIZES; do
    [ -n "${bytes[$size]:-}" ] || { echo "unknown size $size (1k, 64k, 1m, 10m)" >&2; exit 2; }
    head -c "${bytes[$size]}" /dev/urandom > "$root/f$size.bin"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nginx_port=$(free_port)
pincore_port=$(free_port)
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
    server { listen 127.0.0.1:$nginx_port; root $root; }
}
EOF
cat > "$OUT/pincore.yaml" <<EOF
services:
  resp: {enabled: false}
  echo: {enabled: false}
  admin: {enabled: false}
  files: {listen: 127.0.0.1:$pincore_port, settings: {root: $root}}
limits: {max_connections_per_ip: 4096}
log: {level: warn}
EOF

pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -g 'daemon off;' 2>>"$OUT/nginx/error.log" &
pids+=($!)
nginx_master=$!
"$PINCORE" --config "$OUT/pincore.yaml" 2>"$OUT/pincore.log" &
pids+=($!)
pincore_pid=$!
for port in "$nginx_port" "$pincore_port"; do
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/f${SIZES%% *}.bin" && break
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

results="$OUT/results.tsv"
: > "$results"
for round in $(seq "$ROUNDS"); do
    for size in $SIZES; do
        for server in pincore nginx; do
            if [ "$server" = pincore ]; then pid=$pincore_pid port=$pincore_port; else pid=$nginx_master port=$nginx_port; fi
            before=$(ticks "$pid")
            wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" --latency "http://127.0.0.1:$port/f$size.bin" > "$OUT/wrk-$server-$size-$round.txt"
            after=$(ticks "$pid")
            printf '%s\t%s\t%s\t%s\n' "$server" "$size" "$((after - before))" "$OUT/wrk-$server-$size-$round.txt" >> "$results"
        done
    done
done

python3 - "$results" "$(getconf CLK_TCK)" <<'EOF'
import re, sys
rows, hz = sys.argv[1], int(sys.argv[2])
units = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
def seconds(v):
    n, u = re.fullmatch(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 1e-6, "ms": 1e-3, "s": 1}[u]
print("| size | server | requests/s | bytes/s | p99 | server CPU s per GB | errors |")
print("|---|---|---:|---:|---:|---:|---|")
for line in open(rows):
    server, size, ticks, path = line.rstrip("\n").split("\t")
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"(\d+) requests in ([\d.]+m?s), ([\d.]+)(\w+) read", text)
    read = float(m.group(3)) * units[m.group(4)]
    elapsed = seconds(m.group(2))
    p99 = re.search(r"99%\s+(\S+)", text).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", text)
    cpu = int(ticks) / hz
    print(f"| {size} | {server} | {rps:,.0f} | {read / elapsed / (1 << 20):,.1f} MiB/s | {p99} | {cpu / (read / 1e9):.2f} | {errors.group(0) if errors else 'none'} |")
EOF
echo "raw wrk output: $OUT"
