// express-session with connect-redis 10 on node-redis 6, against a server.
//
// Usage: node express_session.mjs PORT
//
// An express app keeps its sessions in the server through connect-redis's RedisStore on a
// node-redis 6 client (RESP3, its default, then RESP2). The script drives it over real
// HTTP (node's fetch, cookies carried by hand) and calls the store API directly: get, set,
// touch, destroy, all, length, ids, clear. It checks what the user sees and what the
// server holds: keys `sess:<sid>`, JSON values and TTLs that follow the cookie's maxAge.

import assert from "node:assert/strict";
import { once } from "node:events";
import { pathToFileURL } from "node:url";

import { RedisStore } from "connect-redis";
import express from "express";
import session from "express-session";
import { createClient } from "redis";

const port = Number(process.argv[2]);
const MAX_AGE = 600;

export function assertTtl(ttl, expected, what) {
  assert.ok(ttl >= expected - 2 && ttl <= expected, `${what}: TTL ${ttl}, expected ${expected}`);
}

/** The app on a free port; its sessions last `maxAge` seconds. */
export async function startApp(store, maxAge = MAX_AGE) {
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(
    session({
      store,
      secret: "compat",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: maxAge * 1000 },
    }),
  );
  app.post("/login", (req, res) => {
    req.session.user = req.body.user;
    req.session.cart = [];
    res.send("ok");
  });
  app.get("/me", (req, res) => res.json({ user: req.session.user ?? null, cart: req.session.cart ?? null }));
  app.post("/cart", (req, res) => {
    req.session.cart = [...(req.session.cart ?? []), req.body.item];
    res.send("ok");
  });
  app.post("/regenerate", (req, res, next) => {
    const { user, cart } = req.session;
    req.session.regenerate((err) => {
      if (err) return next(err);
      Object.assign(req.session, { user, cart });
      res.send("ok");
    });
  });
  app.post("/logout", (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.send("ok")));
  });
  app.use((err, req, res, _next) => res.status(500).send(String(err.stack || err)));
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

/** A browser: keeps the connect.sid cookie between requests. */
export class Browser {
  constructor(base) {
    this.base = base;
    this.cookie = null;
  }
  async request(method, path, form) {
    const headers = {};
    if (this.cookie) headers.cookie = this.cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    const res = await fetch(this.base + path, { method, headers, body });
    const text = await res.text();
    assert.equal(res.status, 200, `${method} ${path}: ${res.status} ${text}`);
    const setCookie = res.headers.get("set-cookie");
    if (setCookie) this.cookie = setCookie.split(";")[0];
    return text;
  }
  get sid() {
    assert.ok(this.cookie, "no session cookie");
    // connect.sid=s%3A<sid>.<signature>
    return decodeURIComponent(this.cookie.split("=")[1]).slice(2).split(".")[0];
  }
}

export async function httpFlow(client, server) {
  const store = new RedisStore({ client });
  const app = await startApp(store);
  const b = new Browser(`http://127.0.0.1:${app.address().port}`);
  try {
    // Anonymous: no session stored (saveUninitialized false).
    assert.deepEqual(JSON.parse(await b.request("GET", "/me")), { user: null, cart: null });
    assert.deepEqual(await server.keys("sess:*"), [], "keys after an anonymous visit");

    // Create.
    await b.request("POST", "/login", { user: "ann" });
    const sid = b.sid;
    assert.deepEqual(await server.keys("sess:*"), [`sess:${sid}`], "keys after login");
    const stored = JSON.parse(await server.get(`sess:${sid}`));
    assert.equal(stored.user, "ann");
    assert.deepEqual(stored.cart, []);
    // express-session computes it as expires - Date.now() right after setting expires
    // from Date.now(): a millisecond may pass in between (599999).
    const maxAgeMs = stored.cookie.originalMaxAge;
    assert.ok(maxAgeMs <= MAX_AGE * 1000 && maxAgeMs >= MAX_AGE * 1000 - 1000, `originalMaxAge ${maxAgeMs}`);
    assertTtl(await server.ttl(`sess:${sid}`), MAX_AGE, "after login");

    // Read of an unmodified session: express-session calls store.touch (EXPIRE).
    await server.expire(`sess:${sid}`, 100);
    assert.deepEqual(JSON.parse(await b.request("GET", "/me")), { user: "ann", cart: [] });
    assertTtl(await server.ttl(`sess:${sid}`), MAX_AGE, "after touch");

    // Update: SET ... EX again.
    await b.request("POST", "/cart", { item: "apple" });
    await b.request("POST", "/cart", { item: "pear" });
    assert.deepEqual(JSON.parse(await b.request("GET", "/me")), { user: "ann", cart: ["apple", "pear"] });
    assert.deepEqual(JSON.parse(await server.get(`sess:${sid}`)).cart, ["apple", "pear"]);

    // Regenerate: old key deleted, new one stored.
    await b.request("POST", "/regenerate");
    const newSid = b.sid;
    assert.notEqual(newSid, sid, "regenerate kept the sid");
    assert.equal(await server.exists(`sess:${sid}`), 0, "old key after regenerate");
    assert.deepEqual(JSON.parse(await server.get(`sess:${newSid}`)).cart, ["apple", "pear"]);
    assertTtl(await server.ttl(`sess:${newSid}`), MAX_AGE, "after regenerate");

    // Logout: destroy deletes the key; the old cookie no longer finds a session.
    await b.request("POST", "/logout");
    assert.equal(await server.exists(`sess:${newSid}`), 0, "key after logout");
    assert.deepEqual(JSON.parse(await b.request("GET", "/me")), { user: null, cart: null });
    assert.deepEqual(await server.keys("sess:*"), [], "keys after logout");
  } finally {
    app.close();
  }
}

async function storeApi(client, server) {
  const store = new RedisStore({ client, prefix: "api:" });
  const cookie = (seconds) => ({ originalMaxAge: seconds * 1000, expires: new Date(Date.now() + seconds * 1000) });

  await store.set("one", { cookie: cookie(300), user: "ann" });
  assertTtl(await server.ttl("api:one"), 300, "set with cookie.expires");
  const got = await store.get("one");
  assert.equal(got.user, "ann");
  assert.equal(await store.get("missing"), null, "get of a missing session");

  await store.touch("one", { cookie: cookie(900), user: "ann" });
  assertTtl(await server.ttl("api:one"), 900, "touch");

  // A session without cookie.expires gets the store's ttl (default 86400).
  await store.set("two", { cookie: { originalMaxAge: null }, user: "bob" });
  assertTtl(await server.ttl("api:two"), 86400, "default ttl");
  // An expired cookie makes set delete the key.
  await store.set("two", { cookie: { expires: new Date(Date.now() - 1000) }, user: "bob" });
  assert.equal(await server.exists("api:two"), 0, "set with a past expiry deletes");

  // Enough sessions that all/length/ids/clear need several SCAN calls (COUNT 100).
  for (let i = 0; i < 250; i++) await store.set(`bulk${i}`, { cookie: cookie(300), n: i });
  await server.set("other:key", "not a session");
  assert.equal(await store.length(), 251, "length");
  const ids = await store.ids();
  assert.equal(ids.length, 251);
  assert.ok(ids.includes("one") && ids.includes("bulk249"), "ids");
  const all = await store.all();
  assert.equal(all.length, 251, "all");
  assert.equal(all.find((s) => s.id === "bulk7").n, 7, "all returns the values with their ids");

  await store.destroy("one");
  assert.equal(await server.exists("api:one"), 0, "destroy");
  assert.equal(await store.length(), 250);
  await store.clear();
  assert.equal(await store.length(), 0, "length after clear");
  assert.deepEqual(await server.keys("api:*"), [], "keys after clear");
  assert.equal(await server.get("other:key"), "not a session", "clear leaves other keys");

  // The callback style express-session itself uses.
  await new Promise((resolve, reject) =>
    store.set("cb", { cookie: cookie(60) }, (err) => (err ? reject(err) : resolve())),
  );
  const viaCb = await new Promise((resolve, reject) =>
    store.get("cb", (err, sess) => (err ? reject(err) : resolve(sess))),
  );
  assert.equal(viaCb.cookie.originalMaxAge, 60000);
  await store.destroy("cb");
}

async function main() {
  for (const RESP of [3, 2]) {
    const client = createClient({ url: `redis://127.0.0.1:${port}`, RESP });
    client.on("error", (err) => console.error("client error", err));
    await client.connect();
    const server = createClient({ url: `redis://127.0.0.1:${port}`, RESP: 2 });
    await server.connect();
    await server.flushDb();
    await httpFlow(client, server);
    await storeApi(client, server);
    await server.flushDb();
    await client.quit();
    await server.quit();
    console.log(`express-session + connect-redis 10 on node-redis 6 RESP${RESP}: ok`);
  }
}

// Run as a script, not when imported (acl_express_session.mjs reuses the app).
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
