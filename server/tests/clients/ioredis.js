// pincore-server driven by ioredis. Usage: node ioredis.js PORT [PASSWORD]. Prints one line per check and
// exits non-zero on the first failure.
const http = require("http");
const Redis = require("ioredis");
const { check } = require("./checks");

const port = Number(process.argv[2]);
const password = process.argv[3];
const adminPort = Number(process.env.PINCORE_ADMIN_PORT);

// Each shard's open RESP connections, from the admin endpoint's /metrics (PINCORE_ADMIN_PORT).
function openByShard() {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: adminPort, path: "/metrics", timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (chunk) => { body += chunk; });
      res.on("end", () => {
        const open = {};
        for (const m of body.matchAll(/^pincore_connections_open\{service="resp",shard="(\d+)"\} (\d+)$/gm)) {
          open[m[1]] = Number(m[2]);
        }
        resolve(open);
      });
    });
    req.on("timeout", () => req.destroy(new Error("/metrics timed out")));
    req.on("error", reject);
  });
}

// Opens a connection and returns it with the shard serving it: the shard whose open count rose.
async function connectAndLocate() {
  const before = await openByShard();
  const c = new Redis({ port, password, maxRetriesPerRequest: 1 });
  await c.ping();
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const after = await openByShard();
    const rose = Object.keys(after).filter((s) => after[s] > (before[s] || 0));
    if (rose.length === 1) return [c, rose[0], Object.keys(after).length];
    await new Promise((done) => setTimeout(done, 20));
  }
  throw new Error("could not tell which shard serves a new connection");
}

// BLPOP waiting on one connection is woken by RPUSH from a connection served by another shard (when the
// server has more than one), and a timed-out BLPOP answers null.
async function blockedPopWokenFromAnotherShard(r) {
  const [waiter, waiterShard, shards] = await connectAndLocate();
  // Connections that landed on the waiter's shard stay open until the end: closing one while the next opens
  // could leave that shard's count unchanged, and the new connection unlocated.
  let pusher, pusherShard;
  const spare = [];
  for (let tries = 0; tries < 40; tries++) {
    [pusher, pusherShard] = await connectAndLocate();
    if (pusherShard !== waiterShard || shards < 2) break;
    spare.push(pusher);
  }
  check("pusher on another shard", shards < 2 || pusherShard !== waiterShard, true);
  check("blpop timeout", await waiter.blpop("jobs:none", 0.05), null);
  const popped = waiter.blpop("jobs:js", 5);
  const deadline = Date.now() + 5000;
  while (!(await r.info("clients")).includes("blocked_clients:1\r\n") && Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 20));
  }
  check("blpop blocks", (await r.info("clients")).includes("blocked_clients:1\r\n"), true);
  check("rpush to the blocked key", await pusher.rpush("jobs:js", "j1", "j2"), 2);
  check("blpop woken", await popped, ["jobs:js", "j1"]);
  check("the rest stays", await r.lrange("jobs:js", 0, -1), ["j2"]);
  let wrong = "";
  try { await waiter.blpop("user", 1); } catch (e) { wrong = String(e.message); }
  check("blpop wrongtype", wrong.startsWith("WRONGTYPE"), true);
  waiter.disconnect();
  pusher.disconnect();
  spare.forEach((c) => c.disconnect());
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
  // Pub/sub: a subscriber connection of its own gets 'message' and 'pmessage' events for r's PUBLISH.
  const sub = new Redis({ port, password, maxRetriesPerRequest: 1 });
  const event = (name) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} event within 5 s`)), 5000);
    sub.once(name, (...args) => { clearTimeout(timer); resolve(args); });
  });
  check("subscribe", await sub.subscribe("chat"), 1);
  let message = event("message");
  check("publish", await r.publish("chat", "hi"), 1);
  check("message", await message, ["chat", "hi"]);
  check("psubscribe", await sub.psubscribe("ch*"), 2);
  message = event("message");
  const pmessage = event("pmessage");
  check("publish to channel and pattern", await r.publish("chat", "again"), 2);
  check("message again", await message, ["chat", "again"]);
  check("pmessage", await pmessage, ["ch*", "chat", "again"]);
  check("numsub", await r.pubsub("NUMSUB", "chat"), ["chat", 1]);
  sub.disconnect();
  check("multi exec", await r.multi().set("tx:a", 1).incr("tx:a").get("tx:a").exec(),
    [[null, "OK"], [null, 2], [null, "2"]]);
  const mixed = await r.multi().set("tx:s", "text").incr("tx:s").incr("tx:a").exec();
  check("error inside a transaction stays in its place",
    mixed.map(([err, v]) => (err ? "error" : v)), ["OK", "error", 3]);
  const other = new Redis({ port, password, maxRetriesPerRequest: 1 });
  check("watch", await r.watch("tx:a"), "OK");
  await other.set("tx:a", 100);
  check("watch conflict aborts exec", await r.multi().incr("tx:a").exec(), null);
  check("unchanged by the aborted transaction", await other.get("tx:a"), "100");
  other.disconnect();
  // scanStream follows the cursor to 0: every key once (SCAN may repeat keys; these are deduplicated).
  const scanned = new Set();
  await new Promise((done, fail) => {
    const stream = r.scanStream({ match: "p:*", count: 100 });
    stream.on("data", (keys) => keys.forEach((k) => scanned.add(k)));
    stream.on("end", done);
    stream.on("error", fail);
  });
  check("scanStream", scanned.size, 1000);
  check("keys", (await r.keys("p:1??")).length, 100);
  check("client setname", await r.client("SETNAME", "js-check"), "OK");
  check("client getname", await r.client("GETNAME"), "js-check");
  check("client list", (await r.client("LIST")).includes("name=js-check"), true);
  check("client id", (await r.client("ID")) > 0, true);
  check("config set", await r.config("SET", "maxmemory", "1mb"), "OK");
  check("config get", await r.config("GET", "maxmemory"), ["maxmemory", String(1 << 20)]);
  check("info memory", (await r.info("memory")).includes(`maxmemory:${1 << 20}\r\n`), true);
  check("config set back", await r.config("SET", "maxmemory", "0"), "OK");
  let refused = "";
  try { await r.config("SET", "timeout", "soon"); } catch (e) { refused = String(e.message); }
  check("invalid config refused", refused.includes("CONFIG SET failed"), true);
  check("info stats", (await r.info("stats")).includes("keyspace_hits:"), true);
  await blockedPopWokenFromAnotherShard(r);
  r.disconnect();
  console.log("all checks passed");
})().catch((e) => {
  console.log(`FAIL ${e}`);
  process.exit(1);
});
