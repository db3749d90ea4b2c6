"""CLIENT TRACKING through redis-py in RESP3 against pincore-server. Usage: redis_py_tracking.py PORT.
Prints one line per check; exits non-zero on the first failure.

redis-py 6+ has a client-side cache (`cache_config=CacheConfig()`), but it refuses any server whose HELLO
reports a version below 7.4; pincore-server reports 7.0.15, so the cache is tried and, when refused for
that reason, the same protocol is driven through redis-py's own RESP3 connection and parser instead."""
import sys
import time

import redis

from checks import check

port = int(sys.argv[1])



def eventually(name, probe, want):
    """Reads until `probe()` answers `want`, within 5 s (an invalidation arrives a moment after the write)."""
    deadline = time.monotonic() + 5
    got = probe()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)
        got = probe()
    check(name, got, want)


writer = redis.Redis(port=port, protocol=3, socket_timeout=5)
writer.mset({f"key:{i}": "old" for i in range(50)})

try:
    from redis.cache import CacheConfig

    cached = redis.Redis(port=port, protocol=3, cache_config=CacheConfig(), socket_timeout=5)
    cached.ping()
except ImportError:
    cached = None
    print("ok this redis-py has no client-side cache")
except redis.exceptions.ConnectionError as e:
    if "7.4" not in str(e):
        raise
    cached = None
    print(f"ok redis-py's cache refuses servers older than 7.4: {e}")

if cached is not None:
    for i in range(50):
        check(f"first read key:{i}", cached.get(f"key:{i}"), b"old")
    writer.mset({f"key:{i}": "new" for i in range(50)})
    eventually("every cached key invalidated", lambda: [cached.get(f"key:{i}") for i in range(50)], [b"new"] * 50)
    writer.flushall()
    eventually("flushall invalidates", lambda: cached.get("key:0"), None)
    print("all checks passed")
    sys.exit(0)

# redis-py's RESP3 connection: replies and push messages through its own parser.
conn = redis.Connection(port=port, protocol=3, socket_timeout=5)
conn.connect()
# What redis-py's own cache registers to hear of invalidations; returning the push hands it to the reader.
conn._parser.set_invalidation_push_handler(lambda push: push)
conn.send_command("CLIENT", "TRACKING", "on")
check("tracking on", conn.read_response(), b"OK")
for i in range(50):
    conn.send_command("GET", f"key:{i}")
    check(f"read key:{i}", conn.read_response(), b"old")
# Written from another connection: keys in keyspace parts of both shards.
writer.mset({f"key:{i}": "new" for i in range(50)})
invalidated = set()
deadline = time.monotonic() + 5
while len(invalidated) < 50 and time.monotonic() < deadline:
    push = conn.read_response(push_request=True)
    check("push kind", push[0], b"invalidate")
    invalidated.update(push[1])
check("every read key invalidated", invalidated, {f"key:{i}".encode() for i in range(50)})
conn.send_command("GET", "key:0")
check("read again", conn.read_response(), b"new")
writer.flushall()
check("flushall invalidates everything", conn.read_response(push_request=True), [b"invalidate", None])
conn.send_command("CLIENT", "TRACKINGINFO")
info = conn.read_response()
check("trackinginfo flags", list(info[b"flags"]), [b"on"])
conn.disconnect()
print("all checks passed")
