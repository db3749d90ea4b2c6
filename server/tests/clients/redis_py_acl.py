"""ACL users made at run time, driven by redis-py (RESP3). Usage: redis_py_acl.py PORT.
Prints one line per check; exits non-zero on the first failure."""
import sys

import redis

from checks import check

port = int(sys.argv[1])



admin = redis.Redis(port=port, socket_timeout=5)
check("setuser", admin.acl_setuser("reader", enabled=True, passwords=["+pw"], keys=["cache:*"],
                                    commands=["+@read", "+ping"]), True)
check("users", sorted(admin.acl_users()), ["default", "reader"])
user = admin.acl_getuser("reader")
check("getuser flags", sorted(user["flags"]), ["on"])
check("getuser keys", user["keys"], ["~cache:*"])
admin.set("cache:1", "v")
admin.set("secret", "s")
reader = redis.Redis(port=port, username="reader", password="pw", socket_timeout=5)
check("whoami", reader.acl_whoami(), "reader")
check("allowed read", reader.get("cache:1"), b"v")
for name, call in [("key", lambda: reader.get("secret")), ("command", lambda: reader.set("cache:1", "x"))]:
    try:
        call()
        print(f"FAIL {name} was allowed")
        sys.exit(1)
    except redis.exceptions.NoPermissionError as e:
        print(f"ok {name} refused: {e}")
try:
    redis.Redis(port=port, username="reader", password="wrong", socket_timeout=5).ping()
    print("FAIL a wrong password was accepted")
    sys.exit(1)
except redis.exceptions.AuthenticationError as e:
    print(f"ok wrong password refused ({e})")
# A new connection without credentials is still the open default user.
check("default still open", redis.Redis(port=port, socket_timeout=5).ping(), True)
check("deluser", admin.acl_deluser("reader"), 1)
print("all checks passed")
