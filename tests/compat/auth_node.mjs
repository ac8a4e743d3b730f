// node-redis 6 and ioredis 6 against a server started with `--requirepass compat-secret`.
//
// Usage: node auth_node.mjs PORT
//
// Both send `HELLO 3 AUTH default <password>` in RESP3 and `AUTH <password>` in RESP2,
// pipelined with the rest of their handshake. A wrong password must fail the connection.

import assert from "node:assert/strict";

import Redis from "ioredis";
import { createClient } from "redis";

const port = Number(process.argv[2]);
const PASSWORD = "compat-secret";

async function nodeRedis(RESP) {
  const client = createClient({ url: `redis://:${PASSWORD}@127.0.0.1:${port}/1`, name: "compat-auth", RESP });
  await client.connect();
  assert.equal(await client.set("auth:nr", "v", { expiration: { type: "EX", value: 60 } }), "OK");
  assert.equal(await client.get("auth:nr"), "v");
  assert.equal(await client.clientGetName(), "compat-auth");
  await client.del("auth:nr");
  await client.quit();

  const wrong = createClient({ url: `redis://:wrong@127.0.0.1:${port}`, RESP, socket: { reconnectStrategy: false } });
  wrong.on("error", () => {});
  await assert.rejects(wrong.connect(), /WRONGPASS/);
  console.log(`node-redis 6 with requirepass, RESP${RESP}: ok`);
}

async function ioredis(protocol) {
  const client = new Redis({ port, host: "127.0.0.1", password: PASSWORD, protocol, db: 1, lazyConnect: true });
  await client.connect(); // includes the INFO ready check, which needs AUTH first
  assert.equal(client.status, "ready");
  assert.equal(await client.set("auth:io", "v", "EX", 60), "OK");
  assert.equal(await client.get("auth:io"), "v");
  await client.del("auth:io");
  await client.quit();

  const wrong = new Redis({ port, host: "127.0.0.1", password: "wrong", protocol, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  const errors = [];
  wrong.on("error", (err) => errors.push(err.message));
  await assert.rejects(wrong.connect()); // "Connection is closed." after the auth error
  assert.ok(errors.some((m) => /WRONGPASS/.test(m)), `ioredis errors: ${errors}`);
  wrong.disconnect();
  console.log(`ioredis 6 with requirepass, protocol ${protocol}: ok`);
}

async function main() {
  for (const resp of [3, 2]) {
    await nodeRedis(resp);
    await ioredis(resp);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
