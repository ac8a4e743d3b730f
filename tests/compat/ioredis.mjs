// ioredis 6 against a server: handshake and ready check (INFO), pipeline, multi, pub/sub.
//
// Usage: node ioredis.mjs PORT
//
// Runs once with ioredis's default protocol (RESP3, HELLO 3) and once with protocol 2.

import assert from "node:assert/strict";

import Redis from "ioredis";

const port = Number(process.argv[2]);

function waitFor(emitter, event, count = 1, ms = 5000) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${event} (${seen.length}/${count})`)), ms);
    const on = (...args) => {
      seen.push(args);
      if (seen.length === count) {
        clearTimeout(timer);
        emitter.off(event, on);
        resolve(seen);
      }
    };
    emitter.on(event, on);
  });
}

async function run(protocol) {
  // connectionName sends `CLIENT setname`, db sends SELECT; the ready check sends INFO.
  const redis = new Redis({ port, host: "127.0.0.1", protocol, db: 2, connectionName: "compat-io", lazyConnect: true });
  redis.on("error", (err) => console.error("ioredis error", err.message));
  await redis.connect();
  assert.equal(redis.status, "ready", "ready after the INFO ready check");
  assert.equal(await redis.ping(), "PONG");
  assert.equal(await redis.client("GETNAME"), "compat-io", "CLIENT GETNAME");
  const info = await redis.info();
  assert.match(String(info), /\r\nloading:0\r\n/, "INFO has loading:0");
  assert.match(String(info), /redis_version:/, "INFO has redis_version");

  await redis.flushdb();
  // SELECT 2 took effect: a key written here is not in db 0.
  await redis.set("io:db", "two");
  const db0 = new Redis({ port, host: "127.0.0.1", protocol });
  assert.equal(await db0.get("io:db"), null, "db 0 does not see db 2's key");
  db0.disconnect();

  // Pipeline: replies come back as [err, result] pairs, in order.
  const piped = await redis
    .pipeline()
    .set("io:sess", "v1", "EX", 600)
    .ttl("io:sess")
    .get("io:sess")
    .incr("io:sess") // an error in the middle does not stop the rest
    .expire("io:sess", 1200)
    .exec();
  assert.deepEqual(piped.slice(0, 3), [[null, "OK"], [null, 600], [null, "v1"]]);
  assert.ok(piped[3][0] instanceof Error, "INCR of a non-integer fails");
  assert.match(piped[3][0].message, /not an integer/);
  assert.deepEqual(piped[4], [null, 1]);

  // multi: MULTI ... EXEC.
  const tx = await redis.multi().setex("io:a", 60, "x").incrby("io:n", 5).ttl("io:a").del("io:a").exec();
  assert.deepEqual(tx, [[null, "OK"], [null, 5], [null, 60], [null, 1]]);
  // A syntax error while queuing aborts EXEC (EXECABORT).
  await assert.rejects(redis.multi().set("io:b", "1").call("SET").exec(), /EXECABORT/);
  assert.equal(await redis.exists("io:b"), 0, "aborted transaction wrote nothing");
  // WATCH: a concurrent change makes EXEC return null.
  const other = new Redis({ port, host: "127.0.0.1", protocol, db: 2 });
  await redis.watch("io:n");
  await other.set("io:n", 100);
  assert.equal(await redis.multi().set("io:n", 0).exec(), null, "EXEC after WATCH conflict");
  assert.equal(await redis.get("io:n"), "100");
  other.disconnect();

  // Session-shaped commands.
  assert.equal(await redis.set("sess:io", JSON.stringify({ user: "ann" }), "EX", 300), "OK");
  assert.deepEqual(JSON.parse(await redis.get("sess:io")), { user: "ann" });
  assert.equal(await redis.expire("sess:io", 900), 1);
  const ttl = await redis.ttl("sess:io");
  assert.ok(ttl >= 899 && ttl <= 900, `TTL ${ttl}`);
  const keys = [];
  for await (const batch of redis.scanStream({ match: "sess:*", count: 10 })) keys.push(...batch);
  assert.deepEqual(keys, ["sess:io"]);
  assert.equal(await redis.del("sess:io"), 1);
  assert.equal(await redis.get("sess:io"), null);

  // Pub/sub on a dedicated connection.
  const sub = new Redis({ port, host: "127.0.0.1", protocol });
  assert.equal(await sub.subscribe("io:news", "io:other"), 2, "subscription count");
  await sub.psubscribe("io:sess:*");
  const pub = new Redis({ port, host: "127.0.0.1", protocol });
  const messages = waitFor(sub, "message", 2);
  const pmessages = waitFor(sub, "pmessage", 1);
  assert.equal(await pub.publish("io:news", "hello"), 1);
  assert.equal(await pub.publish("io:other", "world"), 1);
  assert.equal(await pub.publish("io:sess:7", "logout"), 1);
  assert.deepEqual(await messages, [["io:news", "hello"], ["io:other", "world"]]);
  assert.deepEqual(await pmessages, [["io:sess:*", "io:sess:7", "logout"]]);
  await sub.unsubscribe("io:news", "io:other");
  await sub.punsubscribe("io:sess:*");
  assert.equal(await pub.publish("io:news", "nobody"), 0, "no subscribers left");
  sub.disconnect();
  pub.disconnect();

  await redis.flushdb();
  await redis.quit();
  console.log(`ioredis 6 protocol ${protocol}: ok`);
}

async function main() {
  for (const protocol of [3, 2]) await run(protocol);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
