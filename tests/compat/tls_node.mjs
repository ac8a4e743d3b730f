// node-redis and ioredis over TLS with a client certificate, against a server that
// requires one (tls-auth-clients yes); RESP3 and RESP2.
//
// Usage: node tls_node.mjs TLS_PORT CERT_DIR   (CERT_DIR holds ca.crt, client.crt, client.key)

import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { createClient } from "redis";
import Redis from "ioredis";

const port = Number(process.argv[2]);
const dir = process.argv[3];
const tls = {
  ca: readFileSync(`${dir}/ca.crt`),
  cert: readFileSync(`${dir}/client.crt`),
  key: readFileSync(`${dir}/client.key`),
};

for (const RESP of [3, 2]) {
  const client = createClient({
    socket: { host: "127.0.0.1", port, tls: true, ...tls, reconnectStrategy: false },
    RESP,
  });
  client.on("error", () => {});
  await client.connect();
  assert.equal(await client.ping(), "PONG");
  await client.set(`node:tls:${RESP}`, "v", { EX: 60 });
  assert.equal(await client.get(`node:tls:${RESP}`), "v");
  const ttl = await client.ttl(`node:tls:${RESP}`);
  assert.ok(ttl > 0 && ttl <= 60, `TTL ${ttl}`);
  const [, got] = await client.multi().incr("node:tls:counter").get(`node:tls:${RESP}`).exec();
  assert.equal(got, "v");
  await client.quit();
}

for (const protocol of [3, 2]) {
  const io = new Redis({ host: "127.0.0.1", port, tls, protocol, lazyConnect: true, maxRetriesPerRequest: 0 });
  await io.connect();
  assert.equal(await io.set(`io:tls:${protocol}`, "w", "EX", 60), "OK");
  assert.equal(await io.get(`io:tls:${protocol}`), "w");
  const results = await io.pipeline().get(`io:tls:${protocol}`).del(`io:tls:${protocol}`).exec();
  assert.deepEqual(results, [[null, "w"], [null, 1]]);
  io.disconnect();
}

// Without a client certificate: refused.
const bare = createClient({
  socket: { host: "127.0.0.1", port, tls: true, ca: tls.ca, reconnectStrategy: false },
});
bare.on("error", () => {});
let served = false;
try {
  await bare.connect();
  await bare.ping();
  served = true;
} catch {
  // refused, as it must be
}
assert.equal(served, false, "a client without a certificate was served");
console.log("ok");
