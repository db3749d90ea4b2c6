"""pincore-server driven by redis-py with its default settings (RESP3 since redis-py 6). Usage:
redis_py.py PORT [PASSWORD]. Prints one line per check; exits non-zero on the first failure."""
import sys
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
print("all checks passed")
