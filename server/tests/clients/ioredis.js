// pincore-server driven by ioredis. Usage: node ioredis.js PORT [PASSWORD]. Prints one line per check and
// exits non-zero on the first failure.
const Redis = require("ioredis");

const port = Number(process.argv[2]);
const password = process.argv[3];

function check(name, got, want) {
  const [g, w] = [JSON.stringify(got), JSON.stringify(want)];
  if (g !== w) {
    console.log(`FAIL ${name}: got ${g}, want ${w}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

(async () => {
  if (password !== undefined) {
    const anonymous = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let refused = "";
    // The refusal arrives as a NOAUTH error event (on the connection's first command), then the call fails.
    anonymous.on("error", (e) => { refused += String(e.message); });
    try { await anonymous.connect(); await anonymous.get("greeting"); } catch (e) { refused += String(e.message); }
    anonymous.disconnect();
    check("refused without a password", refused.includes("NOAUTH"), true);
  }
  const r = new Redis({ port, password, maxRetriesPerRequest: 1 });
  check("ping", await r.ping(), "PONG");
  check("set", await r.set("greeting", "hello"), "OK");
  check("get", await r.get("greeting"), "hello");
  check("get missing", await r.get("missing"), null);
  check("incr", await r.incr("counter"), 1);
  check("mget", await r.mget("greeting", "missing"), ["hello", null]);
  check("set px", await r.set("short", "v", "PX", 200), "OK");
  await new Promise((done) => setTimeout(done, 500));
  check("expired", await r.get("short"), null);
  check("expire", await r.expire("greeting", 100), 1);
  check("ttl", await r.ttl("greeting"), 100);
  check("hset", await r.hset("user", { name: "ada", born: "1815" }), 2);
  check("hgetall", await r.hgetall("user"), { name: "ada", born: "1815" });
  check("rpush", await r.rpush("queue", "a", "b", "c"), 3);
  check("lrange", await r.lrange("queue", 0, -1), ["a", "b", "c"]);
  check("sadd", await r.sadd("tags", "x", "y", "x"), 2);
  check("smembers", (await r.smembers("tags")).sort(), ["x", "y"]);
  check("zadd", await r.zadd("board", 3, "ada", 1.5, "bob"), 2);
  check("zrange withscores", await r.zrange("board", 0, -1, "WITHSCORES"), ["bob", "1.5", "ada", "3"]);
  check("type", await Promise.all(["user", "queue", "tags", "board"].map((k) => r.type(k))), ["hash", "list", "set", "zset"]);
  let wrong = "";
  try { await r.lpush("user", "x"); } catch (e) { wrong = String(e.message); }
  check("wrongtype", wrong.startsWith("WRONGTYPE"), true);
  const pipe = r.pipeline();
  for (let i = 0; i < 1000; i++) pipe.set(`p:${i}`, i);
  for (let i = 0; i < 1000; i++) pipe.get(`p:${i}`);
  const replies = await pipe.exec();
  check("pipeline errors", replies.filter(([err]) => err).length, 0);
  check("pipeline gets", replies.slice(1000).map(([, v]) => v), [...Array(1000).keys()].map(String));
  r.disconnect();
  console.log("all checks passed");
})().catch((e) => {
  console.log(`FAIL ${e}`);
  process.exit(1);
});
