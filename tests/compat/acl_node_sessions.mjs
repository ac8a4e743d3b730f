// A session service as a restricted ACL user, through express-session + connect-redis on
// node-redis 6, and through ioredis 6.
//
// Usage: node acl_node_sessions.mjs PORT
//
// The server runs with session_users.conf: the default user is off, `admin` checks what
// is stored, and `express` (`~sess:* +@read +@write -@dangerous`) is what the application
// logs in as, with username and password in the client options. Through each client
// (RESP3 then RESP2) the user does its whole job: login, read with touch, update,
// regenerate, logout, expiry, and connect-redis's all/length/ids/clear (SCAN + MGET + DEL).
// The only command refused along the way is the clients' CLIENT SETINFO (Redis 7.2:
// @connection; both clients ignore its failure) and ioredis's INFO ready check (@dangerous;
// ioredis warns and carries on). With the same credentials FLUSHALL, KEYS, CONFIG GET and
// keys outside sess:* get NOPERM, and the refusals are in ACL LOG.

import assert from "node:assert/strict";

import { RedisStore } from "connect-redis";
import Redis from "ioredis";
import { createClient } from "redis";

import { Browser, assertTtl, httpFlow, startApp } from "./express_session.mjs";

const port = Number(process.argv[2]);
const USER = "express";
const PASSWORD = "express-secret";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const admin = createClient({ url: `redis://admin:admin-secret@127.0.0.1:${port}`, RESP: 2 });
let version72 = true;

/** Redis 7.2's NOPERM texts (7.0's when run against redis-server 7.0 to compare). */
const refused = {
  command: (name) =>
    version72
      ? `NOPERM User ${USER} has no permissions to run the '${name}' command`
      : `NOPERM this user has no permissions to run the '${name}' command`,
  key: () =>
    version72
      ? "NOPERM No permissions to access a key"
      : "NOPERM this user has no permissions to access one of the keys used as arguments",
};

/** Refusals of `USER` in ACL LOG as "reason object" strings. */
async function refusals() {
  const log = await admin.sendCommand(["ACL", "LOG"]);
  return log
    .map((entry) => {
      const fields = {};
      for (let i = 0; i < entry.length; i += 2) fields[entry[i]] = entry[i + 1];
      return fields;
    })
    .filter((e) => e.username === USER)
    .map((e) => `${e.reason} ${e.object}`);
}

/** Only the commands the clients send and tolerate losing were refused since the reset. */
async function assertOnlyTolerated(what, tolerated) {
  const unexpected = (await refusals()).filter((r) => !tolerated.includes(r));
  assert.deepEqual(unexpected, [], `${what}: refused along the way`);
}

/** FLUSHALL, KEYS, CONFIG GET and keys outside the prefix: NOPERM, in ACL LOG, no effect. */
async function assertForbidden(what, call) {
  await admin.set("other:1", "kept");
  await admin.sendCommand(["ACL", "LOG", "RESET"]);
  const denied = async (promise, text, action) =>
    assert.rejects(promise, (err) => {
      assert.equal(err.message, text, `${what}: ${action}`);
      return true;
    });
  await denied(call("FLUSHALL"), refused.command("flushall"), "FLUSHALL");
  await denied(call("KEYS", "*"), refused.command("keys"), "KEYS");
  await denied(call("CONFIG", "GET", "*"), refused.command("config|get"), "CONFIG GET");
  await denied(call("GET", "other:1"), refused.key(), "GET outside the prefix");
  await denied(call("SET", "other:2", "x"), refused.key(), "SET outside the prefix");
  await denied(call("DEL", "other:1"), refused.key(), "DEL outside the prefix");
  assert.equal(await admin.get("other:1"), "kept", `${what}: other:1 untouched`);
  assert.equal(await admin.exists("other:2"), 0, `${what}: nothing written outside the prefix`);
  const log = await refusals();
  for (const entry of ["command flushall", "command keys", "command config|get", "key other:1", "key other:2"]) {
    assert.ok(log.includes(entry), `${what}: ${entry} not in ACL LOG: ${log}`);
  }
  await admin.del("other:1");
}

async function expressSession(RESP) {
  const what = `express-session on node-redis RESP${RESP}`;
  const client = createClient({ socket: { host: "127.0.0.1", port }, username: USER, password: PASSWORD, RESP });
  client.on("error", (err) => console.error("client error", err));
  await client.connect();

  await httpFlow(client, admin); // login, read with touch, update, regenerate, logout

  // Expiry: a session whose cookie lasts 1 s is gone from the server, and for the user.
  const store = new RedisStore({ client });
  const app = await startApp(store, 1);
  try {
    const b = new Browser(`http://127.0.0.1:${app.address().port}`);
    await b.request("POST", "/login", { user: "bob" });
    assertTtl(await admin.ttl(`sess:${b.sid}`), 1, "short session");
    await sleep(2200);
    assert.equal(await admin.exists(`sess:${b.sid}`), 0, "key after expiry");
    assert.deepEqual(JSON.parse(await b.request("GET", "/me")), { user: null, cart: null }, "after expiry");
  } finally {
    app.close();
  }

  // The store API over its own prefix: SCAN MATCH sess:* then MGET / DEL.
  const cookie = { originalMaxAge: 300000, expires: new Date(Date.now() + 300000) };
  for (const id of ["a", "b", "c"]) await store.set(id, { cookie, id });
  await admin.set("other:key", "not a session");
  assert.equal(await store.length(), 3, "length");
  assert.deepEqual((await store.ids()).sort(), ["a", "b", "c"], "ids");
  assert.deepEqual((await store.all()).map((s) => s.id).sort(), ["a", "b", "c"], "all");
  await store.clear();
  assert.equal(await store.length(), 0, "length after clear");
  assert.equal(await admin.get("other:key"), "not a session", "clear leaves other keys");
  // Key patterns restrict keys a command reads or writes, not the names SCAN lists (as in
  // Redis): the value behind the name stays out of reach.
  const names = [];
  for await (const batch of client.scanIterator({ MATCH: "other:*" })) names.push(...batch);
  assert.deepEqual(names, ["other:key"], "SCAN lists names outside the prefix");
  await assert.rejects(client.get("other:key"), { message: refused.key() });
  await admin.del("other:key");

  await assertOnlyTolerated(what, ["command client|setinfo", "key other:key"]);
  await assertForbidden(what, (...args) => client.sendCommand(args));
  await client.quit();
  console.log(`${what} as ${USER}: ok`);
}

async function ioredis(protocol) {
  const what = `ioredis protocol ${protocol}`;
  const warnings = [];
  const warn = console.warn;
  console.warn = (message) => warnings.push(String(message));
  // The INFO ready check is @dangerous: ioredis warns and skips it.
  const client = new Redis({ host: "127.0.0.1", port, username: USER, password: PASSWORD, protocol, lazyConnect: true });
  client.on("error", (err) => console.error("ioredis error", err.message));
  try {
    await client.connect();
  } finally {
    console.warn = warn;
  }
  assert.equal(client.status, "ready", `${what}: ready`);
  assert.ok(
    warnings.some((w) => w.includes("Skipping the ready check") && w.includes(refused.command("info"))),
    `${what}: the ready check's NOPERM: ${warnings}`,
  );
  // With enableReadyCheck: false, nothing is refused while connecting.
  const quiet = new Redis({ host: "127.0.0.1", port, username: USER, password: PASSWORD, protocol, enableReadyCheck: false, lazyConnect: true });
  await quiet.connect();
  assert.equal(await quiet.exists("sess:none"), 0);
  quiet.disconnect();

  // What a session store does (connect-redis's commands): create, read, touch, update,
  // regenerate, destroy, list, expiry.
  const json = (user, cart) => JSON.stringify({ cookie: { originalMaxAge: 600000 }, user, cart });
  assert.equal(await client.set("sess:io1", json("ann", []), "EX", 600), "OK");
  assertTtl(await admin.ttl("sess:io1"), 600, "create");
  assert.equal(JSON.parse(await client.get("sess:io1")).user, "ann", "read");
  await admin.expire("sess:io1", 100);
  assert.equal(await client.expire("sess:io1", 600), 1, "touch");
  assertTtl(await admin.ttl("sess:io1"), 600, "touch");
  await client.set("sess:io1", json("ann", ["apple"]), "EX", 600);
  assert.deepEqual(JSON.parse(await admin.get("sess:io1")).cart, ["apple"], "update");
  const moved = await client.pipeline().del("sess:io1").set("sess:io2", json("ann", ["apple"]), "EX", 600).exec();
  assert.deepEqual(moved, [[null, 1], [null, "OK"]], "regenerate (pipelined)");
  assert.equal(await admin.exists("sess:io1"), 0, "old key after regenerate");
  const listed = [];
  for await (const batch of client.scanStream({ match: "sess:*", count: 100 })) listed.push(...batch);
  assert.deepEqual(listed, ["sess:io2"], "scanStream");
  assert.deepEqual((await client.mget(listed)).map((v) => JSON.parse(v).user), ["ann"], "MGET");
  assert.equal(await client.del("sess:io2"), 1, "destroy");
  assert.equal(await admin.exists("sess:io2"), 0, "key after destroy");
  await client.set("sess:short", json("bob", []), "EX", 1);
  await sleep(2200);
  assert.equal(await client.get("sess:short"), null, "session after expiry");
  assert.equal(await admin.exists("sess:short"), 0, "key after expiry");

  await assertOnlyTolerated(what, ["command client|setinfo", "command info"]);
  await assertForbidden(what, (...args) => client.call(...args));
  await client.quit();
  console.log(`${what} as ${USER}: ok`);
}

async function main() {
  await admin.connect();
  version72 = !/redis_version:7\.[01]\./.test(await admin.info("server"));
  // The default user is off: no login, no commands.
  const anonymous = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false }, RESP: 2 });
  anonymous.on("error", () => {});
  await anonymous.connect();
  await assert.rejects(anonymous.get("sess:x"), { message: /^NOAUTH/ });
  await anonymous.quit();
  const anonymous3 = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false }, RESP: 3 });
  anonymous3.on("error", () => {});
  await assert.rejects(anonymous3.connect(), { message: /^NOAUTH/ });

  for (const resp of [3, 2]) {
    await admin.flushAll();
    await admin.sendCommand(["ACL", "LOG", "RESET"]);
    await expressSession(resp);
    await admin.sendCommand(["ACL", "LOG", "RESET"]);
    await ioredis(resp);
  }
  await admin.flushAll();
  await admin.quit();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
