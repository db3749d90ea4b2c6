"""pincore-server driven by redis-py with its default settings (RESP3 since redis-py 6). Usage:
redis_py.py PORT [PASSWORD]. Prints one line per check; exits non-zero on the first failure."""
import sys
import threading
import time

import redis

port = int(sys.argv[1])
password = sys.argv[2] if len(sys.argv) > 2 else None


def check(name, got, want):
    if got != want:
        print(f"FAIL {name}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok {name}")


if password is not None:
    # Without credentials the first command is refused with NOAUTH (HELLO itself is allowed to fail).
    try:
        redis.Redis(port=port, socket_timeout=5).ping()
        print("FAIL unauthenticated ping was not refused")
        sys.exit(1)
    except redis.exceptions.AuthenticationError as e:
        print(f"ok refused without a password ({e})")
    try:
        redis.Redis(port=port, password="wrong", socket_timeout=5).ping()
        print("FAIL a wrong password was accepted")
        sys.exit(1)
    except redis.exceptions.AuthenticationError as e:
        print(f"ok wrong password refused ({e})")

r = redis.Redis(port=port, password=password, socket_timeout=5)
check("ping", r.ping(), True)
check("protocol", r.connection_pool.connection_kwargs.get("protocol", 3) in (3, "3", None), True)
hello = r.execute_command("HELLO", "3")
check("hello proto", hello[b"proto"], 3)
check("set", r.set("greeting", "hello"), True)
check("get", r.get("greeting"), b"hello")
check("get missing", r.get("missing"), None)
check("incr", r.incr("counter"), 1)
check("incrby", r.incrby("counter", 41), 42)
check("mset", r.mset({"a": "1", "b": "2"}), True)
check("mget", r.mget("a", "b", "missing"), [b"1", b"2", None])
check("delete", r.delete("a", "b", "missing"), 2)
check("exists", r.exists("greeting", "a"), 1)
check("set nx", r.set("greeting", "other", nx=True), None)
check("set get", r.set("greeting", "again", get=True), b"hello")

check("set px", r.set("short", "v", px=200), True)
ttl = r.ttl("short")
check("ttl while alive", ttl in (0, 1), True)
check("expire", r.expire("greeting", 100), True)
check("ttl", r.ttl("greeting"), 100)
time.sleep(0.5)
check("expired", r.get("short"), None)

pipe = r.pipeline(transaction=False)
for i in range(1000):
    pipe.set(f"p:{i}", i)
for i in range(1000):
    pipe.get(f"p:{i}")
replies = pipe.execute()
check("pipeline sets", all(x is True for x in replies[:1000]), True)
check("pipeline gets", replies[1000:], [str(i).encode() for i in range(1000)])

pipe = r.pipeline(transaction=True)
pipe.set("tx:a", 1).incr("tx:a").get("tx:a")
check("transaction", pipe.execute(), [True, 2, b"2"])
pipe = r.pipeline(transaction=True)
pipe.set("tx:s", "text").incr("tx:s").incr("tx:a")
replies = pipe.execute(raise_on_error=False)
check("error inside a transaction stays in its place",
      [isinstance(replies[1], redis.exceptions.ResponseError), replies[0], replies[2]], [True, True, 3])

other = redis.Redis(port=port, password=password, socket_timeout=5)
with r.pipeline() as watched:
    watched.watch("tx:a")
    other.set("tx:a", 100)
    watched.multi()
    watched.incr("tx:a")
    try:
        watched.execute()
        print("FAIL EXEC ran although a watched key changed")
        sys.exit(1)
    except redis.exceptions.WatchError:
        print("ok watch conflict raises WatchError")


def add_ten(p):
    value = int(p.get("tx:a"))
    p.multi()
    p.set("tx:a", value + 10)


r.transaction(add_ten, "tx:a")
check("transaction() with WATCH", r.get("tx:a"), b"110")

check("hset", r.hset("user", mapping={"name": "ada", "born": "1815"}), 2)
check("hgetall", r.hgetall("user"), {b"name": b"ada", b"born": b"1815"})
check("hincrby", r.hincrby("user", "born", 1), 1816)
check("rpush", r.rpush("queue", "a", "b", "c"), 3)
check("lrange", r.lrange("queue", 0, -1), [b"a", b"b", b"c"])
check("lpop count", r.lpop("queue", 2), [b"a", b"b"])
check("sadd", r.sadd("tags", "x", "y", "x"), 2)
check("smembers", r.smembers("tags"), {b"x", b"y"})
check("zadd", r.zadd("board", {"ada": 3, "bob": 1.5}), 2)
check("zrange withscores", r.zrange("board", 0, -1, withscores=True), [(b"bob", 1.5), (b"ada", 3.0)])
check("zscore", r.zscore("board", "ada"), 3.0)
check("type", [r.type(k) for k in ("user", "queue", "tags", "board", "greeting")], [b"hash", b"list", b"set", b"zset", b"string"])
try:
    r.get("user")
    print("FAIL GET on a hash was not refused")
    sys.exit(1)
except redis.exceptions.ResponseError as e:
    check("wrongtype", str(e).startswith("WRONGTYPE"), True)
check("config get", r.config_get("appendonly"), {"appendonly": "no"})
check("info", r.info("server")["redis_version"], "7.0.15")
check("client id", r.client_id() > 0, True)
check("whoami", r.acl_whoami(), "default")
check("dbsize", r.dbsize() >= 1000, True)

# Pub/sub: confirmations, a message and a pattern message, read with get_message (push messages in RESP3).
p = r.pubsub()
p.subscribe("chat")
check("subscribe", p.get_message(timeout=5),
      {"type": "subscribe", "pattern": None, "channel": b"chat", "data": 1})
p.psubscribe("ch*")
check("psubscribe", p.get_message(timeout=5),
      {"type": "psubscribe", "pattern": None, "channel": b"ch*", "data": 2})
check("publish", r.publish("chat", "hi"), 2)
check("message", p.get_message(timeout=5),
      {"type": "message", "pattern": None, "channel": b"chat", "data": b"hi"})
check("pmessage", p.get_message(timeout=5),
      {"type": "pmessage", "pattern": b"ch*", "channel": b"chat", "data": b"hi"})
check("pubsub numsub", r.pubsub_numsub("chat"), [(b"chat", 1)])
check("pubsub numpat", r.pubsub_numpat(), 1)
check("pubsub channels", r.pubsub_channels(), [b"chat"])
p.unsubscribe("chat")
check("unsubscribe", p.get_message(timeout=5),
      {"type": "unsubscribe", "pattern": None, "channel": b"chat", "data": 1})
p.close()
deadline = time.time() + 5
while r.pubsub_numpat() != 0 and time.time() < deadline:
    time.sleep(0.02)
check("closed subscriber unregistered", (r.pubsub_numpat(), r.publish("chat", "x")), (0, 0))
# SCAN through scan_iter (cursor until 0) finds every key exactly as KEYS does, in any order.
scanned = list(r.scan_iter(match="p:*", count=50))
check("scan_iter", sorted(scanned), sorted(r.keys("p:*")))
check("scan_iter count", len(scanned), 1000)
check("scan type", list(r.scan_iter(match="p:1*", _type="string")) != [], True)
check("client setname", r.client_setname("py-check"), True)
check("client getname", r.client_getname() in ("py-check", b"py-check"), True)
check("client info", r.client_info()["name"], "py-check")
check("client list", any(c["name"] == "py-check" for c in r.client_list()), True)
# A bare connection, so no retry reconnects it behind the check's back.
other = redis.Connection(port=port, password=password, socket_timeout=5)
other.connect()
other.send_command("CLIENT", "ID")
victim = other.read_response()
check("client kill", r.client_kill_filter(_id=victim), 1)
try:
    other.send_command("PING")
    other.read_response()
    print("FAIL a killed connection still answered")
    sys.exit(1)
except (redis.exceptions.ConnectionError, OSError):
    print("ok killed connection closed")
check("config set", r.config_set("maxmemory", "100mb"), True)
check("config get pattern", r.config_get("maxmemory*"), {"maxmemory": str(100 << 20), "maxmemory-policy": "noeviction", "maxmemory-clients": "0", "maxmemory-samples": "5"})
check("info memory", r.info("memory")["maxmemory"], 100 << 20)
check("config set back", r.config_set("maxmemory", 0), True)
try:
    r.config_set("maxmemory-policy", "sometimes")
    print("FAIL an invalid policy was accepted")
    sys.exit(1)
except redis.exceptions.ResponseError as e:
    print(f"ok invalid config refused ({e})")
check("policy unchanged", r.config_get("maxmemory-policy"), {"maxmemory-policy": "noeviction"})
stats = r.info("stats")
check("info stats", stats["total_commands_processed"] > 0 and "keyspace_hits" in stats, True)
check("info cpu", "used_cpu_user" in r.info("cpu"), True)
check("config resetstat", r.config_resetstat(), True)
check("object encoding", r.object("encoding", "p:1") in ("int", b"int"), True)
check("lcs", r.lcs("greeting", "greeting"), b"again")
# BLMPOP blocked on one connection is woken by a push from another (keys spread over every shard).
woken = {}


def wait_in_blmpop():
    waiter = redis.Redis(port=port, password=password, socket_timeout=10)
    woken["reply"] = waiter.blmpop(5, 2, "jobs:a", "jobs:b", direction="LEFT", count=2)


waiting = threading.Thread(target=wait_in_blmpop)
waiting.start()
deadline = time.time() + 5
while r.info("clients")["blocked_clients"] == 0 and time.time() < deadline:
    time.sleep(0.02)
check("blmpop blocks", (waiting.is_alive(), r.info("clients")["blocked_clients"]), (True, 1))
check("rpush to a blocked key", r.rpush("jobs:b", "j1", "j2", "j3"), 3)
waiting.join(10)
check("blmpop woken", woken.get("reply"), [b"jobs:b", [b"j1", b"j2"]])
check("lmpop", r.lmpop(2, "jobs:a", "jobs:b", direction="RIGHT", count=5), [b"jobs:b", [b"j3"]])
check("lmpop nothing", r.lmpop(1, "jobs:b", direction="LEFT"), None)
check("zadd leaders", r.zadd("leaders", {"ada": 3, "bob": 1.5, "cy": 2}), 3)
popped = r.zmpop(1, ["leaders"], min=True, count=2)
check("zmpop", [popped[0], [(m, float(s)) for m, s in popped[1]]], [b"leaders", [(b"bob", 1.5), (b"cy", 2.0)]])
popped = r.bzmpop(1, 2, ["none", "leaders"], max=True)
check("bzmpop", [popped[0], [(m, float(s)) for m, s in popped[1]]], [b"leaders", [(b"ada", 3.0)]])
check("bzmpop timeout", r.bzmpop(0.05, 1, ["leaders"], min=True), None)
print("all checks passed")
