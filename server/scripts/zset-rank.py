#!/usr/bin/env python3
"""Rank lookups on one large sorted set: pincore-server binaries and redis-server side by side.

Loads one sorted set of N members (1,000,000 by default; `m<i>` with score i) into each server over
loopback, then times, one call at a time, ZRANK and ZREVRANK of members at low, middle and high ranks and
ZRANGE of 10 members by index from those ranks. Shows whether a rank costs O(log n) or a walk of O(rank).

usage: server/scripts/zset-rank.py [--members N] [--calls C] PINCORE_BINARY...
  Each PINCORE_BINARY (e.g. a build before and after a change) runs with one shard; redis-server runs once.
Prints, per server and operation, the median microseconds per call (client round trip included).
Needs redis-server and redis-py (pip install redis).
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, process):
    for _ in range(200):
        try:
            if redis.Redis(port=port).ping():
                return
        except redis.exceptions.ConnectionError:
            if process.poll() is not None:
                sys.exit(f"server on port {port} exited")
            time.sleep(0.05)
    sys.exit(f"server on port {port} did not start")


def start(binary, work):
    port = free_port()
    if binary == "redis":
        args = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
    else:
        config = os.path.join(work, f"pincore-{port}.yaml")
        with open(config, "w") as f:
            f.write(
                f"services:\n  resp: {{listen: 127.0.0.1:{port}}}\n"
                f"  echo: {{listen: 127.0.0.1:{free_port()}}}\n  admin: {{listen: 127.0.0.1:{free_port()}}}\n"
            )
        args = [binary, "--config", config, "--cpus", "0"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, process)
    return process, port


def load(r, members):
    pipe = r.pipeline(transaction=False)
    for start in range(0, members, 1000):
        pipe.zadd("big", {f"m{i}": i for i in range(start, min(start + 1000, members))})
        if start % 50_000 == 0:
            pipe.execute()
    pipe.execute()
    assert r.zcard("big") == members, "the sorted set was not loaded"


def median_us(call, calls):
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def measure(name, port, members, calls):
    r = redis.Redis(port=port, protocol=2)
    load(r, members)
    for rank in (10, members // 2, members - 10):
        member = f"m{rank}"
        assert r.zrank("big", member) == rank
        rows = [
            (f"ZRANK rank {rank}", lambda: r.zrank("big", member)),
            (f"ZREVRANK rank {members - 1 - rank}", lambda: r.zrevrank("big", member)),
            (f"ZRANGE {rank} {rank + 9}", lambda: r.zrange("big", rank, rank + 9)),
            (f"ZRANGE REV {rank} {rank + 9}", lambda: r.zrange("big", rank, rank + 9, desc=True)),
        ]
        for label, call in rows:
            print(f"{name:40} {label:28} {median_us(call, calls):10.1f} us", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for binary in ["redis"] + args.binaries:
            process, port = start(binary, work)
            try:
                name = "redis-server" if binary == "redis" else binary
                measure(name, port, args.members, args.calls)
            finally:
                process.terminate()
                process.wait()


if __name__ == "__main__":
    main()
