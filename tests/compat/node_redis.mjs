// node-redis 6 against a server: handshake, auto-pipelining, multi, WATCH, pub/sub,
// scanIterator and RESP3 reply types.
//
// Usage: node node_redis.mjs PORT
//
// Runs with node-redis's default (RESP3, HELLO 3 SETNAME ...) and again with RESP: 2.
// connect-redis on top of it is covered by express_session.mjs.

import assert from "node:assert/strict";

import { createClient, WatchError } from "redis";

const port = Number(process.argv[2]);

function withTimeout(promise, what, ms = 5000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function run(RESP) {
  // name -> HELLO 3 SETNAME (or CLIENT SETNAME in RESP2), database -> SELECT, all pipelined.
  const client = createClient({ url: `redis://127.0.0.1:${port}/4`, name: "compat-nr", RESP });
  client.on("error", (err) => console.error("client error", err));
  await client.connect();
  assert.equal(await client.ping(), "PONG");
  assert.equal(await client.clientGetName(), "compat-nr");
  await client.flushDb();
  const info = await client.info("server");
  assert.match(String(info), /redis_version:/);

  // SELECT 4 took effect.
  await client.set("nr:db", "four");
  const db0 = createClient({ url: `redis://127.0.0.1:${port}`, RESP });
  await db0.connect();
  assert.equal(await db0.get("nr:db"), null, "db 0 does not see db 4's key");

  // Commands issued in the same tick are auto-pipelined into one write.
  const replies = await Promise.all([
    client.set("sess:a", "1", { expiration: { type: "EX", value: 600 } }),
    client.set("sess:b", "2", { expiration: { type: "PX", value: 60000 } }),
    client.set("sess:a", "x", { condition: "NX" }),
    client.get("sess:a"),
    client.ttl("sess:a"),
    client.exists(["sess:a", "sess:b", "sess:c"]),
    client.mGet(["sess:a", "sess:c"]),
    client.expire("sess:b", 300),
  ]);
  assert.deepEqual(replies, ["OK", "OK", null, "1", 600, 2, ["1", null], 1]);

  // multi: MULTI ... EXEC.
  const tx = await client.multi().setEx("sess:c", 120, "3").incrBy("nr:n", 3).ttl("sess:c").del(["sess:c"]).exec();
  assert.deepEqual(tx, ["OK", 3, 120, 1]);
  // WATCH on a connection of its own: a concurrent write aborts the transaction.
  const iso = client.duplicate();
  const other = client.duplicate();
  await Promise.all([iso.connect(), other.connect()]);
  await iso.watch("nr:n");
  await other.set("nr:n", "100");
  await assert.rejects(iso.multi().set("nr:n", "0").exec(), WatchError);
  await Promise.all([iso.quit(), other.quit()]);
  assert.equal(await client.get("nr:n"), "100");

  // Hashes and sets: maps and sets in RESP3, flat arrays in RESP2, same values to the app.
  await client.hSet("nr:h", { user: "ann", n: "1" });
  assert.deepEqual({ ...(await client.hGetAll("nr:h")) }, { user: "ann", n: "1" });
  await client.sAdd("nr:s", ["a", "b"]);
  assert.deepEqual([...(await client.sMembers("nr:s"))].sort(), ["a", "b"]);

  // scanIterator, as connect-redis uses it.
  for (let i = 0; i < 120; i++) await client.set(`sess:bulk${i}`, "v", { expiration: { type: "EX", value: 60 } });
  const seen = new Set();
  for await (const keys of client.scanIterator({ MATCH: "sess:*", COUNT: 50 })) for (const k of keys) seen.add(k);
  assert.equal(seen.size, 122, "scanIterator finds every sess:* key");

  // Pub/sub on a duplicate connection.
  const sub = client.duplicate();
  sub.on("error", (err) => console.error("sub error", err));
  await sub.connect();
  const got = [];
  let resolveAll;
  const allArrived = new Promise((r) => (resolveAll = r));
  const onMessage = (message, channel) => {
    got.push([channel, message]);
    if (got.length === 3) resolveAll();
  };
  await sub.subscribe("nr:news", onMessage);
  await sub.pSubscribe("nr:sess:*", onMessage);
  assert.equal(await client.publish("nr:news", "hello"), 1);
  assert.equal(await client.publish("nr:sess:9", "logout"), 1);
  assert.equal(await client.publish("nr:news", "again"), 1);
  await withTimeout(allArrived, "three pub/sub messages");
  assert.deepEqual(got, [["nr:news", "hello"], ["nr:sess:9", "logout"], ["nr:news", "again"]]);
  await sub.unsubscribe("nr:news");
  await sub.pUnsubscribe("nr:sess:*");
  assert.equal(await client.publish("nr:news", "nobody"), 0);
  await sub.quit();

  await client.flushDb();
  await client.quit();
  await db0.quit();
  console.log(`node-redis 6 RESP${RESP}: ok`);
}

async function main() {
  for (const RESP of [3, 2]) await run(RESP);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
