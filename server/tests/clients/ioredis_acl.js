// ACL users made at run time, driven by ioredis. Usage: node ioredis_acl.js PORT. Prints one line per check
// and exits non-zero on the first failure.
const Redis = require("ioredis");
const { check } = require("./checks");

const port = Number(process.argv[2]);

async function refused(name, promise, pattern) {
  try {
    await promise;
    console.log(`FAIL ${name} was allowed`);
    process.exit(1);
  } catch (e) {
    check(`${name} refused`, pattern.test(e.message), true);
  }
}

(async () => {
  const options = { port, host: "127.0.0.1", connectTimeout: 5000, commandTimeout: 5000, maxRetriesPerRequest: 0 };
  const admin = new Redis(options);
  check("setuser", await admin.acl("SETUSER", "writer", "on", ">pw", "~jobs:*", "&jobs", "+@write", "+@pubsub", "+ping"), "OK");
  const writer = new Redis({ ...options, username: "writer", password: "pw" });
  check("ping", await writer.ping(), "PONG");
  check("set", await writer.set("jobs:1", "x"), "OK");
  check("publish", await writer.publish("jobs", "hello"), 0);
  await refused("read command", writer.get("jobs:1"), /^NOPERM this user has no permissions to run the 'get' command/);
  await refused("other key", writer.set("other", "x"), /^NOPERM .* keys/);
  await refused("other channel", writer.publish("other", "x"), /^NOPERM .* channels/);
  check("list", (await admin.acl("LIST")).length, 2);
  check("deluser", await admin.acl("DELUSER", "writer"), 1);
  writer.disconnect();
  admin.disconnect();
  console.log("all checks passed");
})().catch((e) => {
  console.log(`FAIL ${e.stack}`);
  process.exit(1);
});
