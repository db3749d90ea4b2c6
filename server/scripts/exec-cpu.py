#!/usr/bin/env python3
"""CPU per transaction: pincore-server and redis-server side by side, each on one CPU, on loopback.

For each size K, one client pipelines transactions `MULTI, INCR key:1 .. INCR key:K, EXEC` (100 per
write) and, for comparison, the same N*K INCRs without MULTI/EXEC. The server's utime + stime is read from
/proc/PID/stat around each run, so the figure is the server's own CPU, not the client's.

usage: server/scripts/exec-cpu.py PINCORE_BINARY [--commands N] [--keys 2,10,100] [--rounds R]
  --commands: about how many commands each run sends (so each run costs the server a second or so of CPU,
  a hundred ticks of /proc's 10 ms clock).
Prints one line per server, size and mode: CPU microseconds per transaction (median of the rounds).
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")
BATCH = 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / TICK


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def start(kind, binary, workdir):
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    else:
        config = os.path.join(workdir, "pincore.yaml")
        with open(config, "w") as f:
            f.write(
                f"services:\n  resp: {{listen: 127.0.0.1:{port}}}\n  echo: {{listen: 127.0.0.1:0}}\n"
                "  admin: {listen: 127.0.0.1:0}\nlog: {level: warn}\n"
            )
        cmd = [binary, "--config", config, "--cpus", "0"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                sys.exit(f"{kind} did not start on port {port}")
            time.sleep(0.05)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return process, conn


def run(conn, pid, transactions, keys, transaction):
    """Sends `transactions` batches' worth of requests; returns the server's CPU seconds."""
    incrs = b"".join(encode("INCR", f"key:{i}") for i in range(keys))
    one = encode("MULTI") + incrs + encode("EXEC") if transaction else incrs
    # Reply lines per transaction: +OK, K +QUEUED, *K, K integers; without MULTI, K integers.
    lines_each = 2 * keys + 2 if transaction else keys
    before = cpu_seconds(pid)
    sent = 0
    while sent < transactions:
        n = min(BATCH, transactions - sent)
        conn.sendall(one * n)
        expected, seen = lines_each * n, 0
        while seen < expected:
            data = conn.recv(1 << 20)
            if not data:
                sys.exit("the server closed the connection")
            seen += data.count(b"\r\n")
        sent += n
    return cpu_seconds(pid) - before


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pincore")
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--keys", default="2,10,100")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(k) for k in args.keys.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.rounds):
            # Servers alternate within each round, so drift on a shared machine falls on both alike.
            for kind in ("pincore", "redis"):
                process, conn = start(kind, args.pincore, workdir)
                try:
                    for keys in sizes:
                        count = max(100, args.commands // (keys + 2))
                        for transaction in (True, False):
                            cpu = run(conn, process.pid, count, keys, transaction)
                            key = (kind, keys, transaction)
                            results.setdefault(key, []).append(cpu / count * 1e6)
                finally:
                    conn.close()
                    process.kill()
                    process.wait()
    print(f"{'server':8} {'keys':>5} {'mode':18} {'cpu_us/transaction':>19} {'per key':>8}")
    for keys in sizes:
        for transaction in (True, False):
            for kind in ("pincore", "redis"):
                us = statistics.median(results[(kind, keys, transaction)])
                mode = "MULTI..EXEC" if transaction else "same INCRs, plain"
                print(f"{kind:8} {keys:>5} {mode:18} {us:>19.2f} {us / keys:>8.3f}")


if __name__ == "__main__":
    main()
