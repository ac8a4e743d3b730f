"""Django's cache session engine on django.core.cache.backends.redis.RedisCache.

Usage: python3 django_sessions.py PORT

Runs the app in django_app/ (settings, urls, views) through Django's test client, once with
redis-py in RESP3 (its default) and once in RESP2, each in a fresh interpreter since Django
reads its settings once. Checks what a user sees and what is stored on the server (the key
`:1:django.contrib.sessions.cache<key>`, its pickled value, its TTL equal to
SESSION_COOKIE_AGE or set_expiry) through create, read, update, cycle_key, flush and expiry,
plus the cache API calls Django sessions and apps make beside them.
"""

import os
import pickle
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = ":1:django.contrib.sessions.cache"
AGE = 600


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def assert_ttl(server, key: str, age: int) -> None:
    ttl = server.ttl(key)
    assert age - 2 <= ttl <= age, f"TTL of {key}: {ttl}, expected {age}"


def flow(port: int, protocol: int) -> None:
    import django
    import redis

    django.setup()
    from django.conf import settings
    from django.contrib.sessions.backends.cache import SessionStore
    from django.core.cache import cache
    from django.test import Client

    server = redis.Redis(port=port, protocol=2)
    server.flushdb()

    def stored(key: str):
        raw = server.get(PREFIX + key)
        return None if raw is None else pickle.loads(raw)

    c = Client()
    cookie = settings.SESSION_COOKIE_NAME

    # Anonymous visit: nothing stored.
    expect(c.get("/me").json(), {"user": None, "cart": None}, "anonymous read")
    expect(server.keys("*"), [], "keys after an anonymous visit")

    # Create.
    expect(c.post("/login", {"user": "ann"}).status_code, 200, "login status")
    key = c.cookies[cookie].value
    expect(server.keys("*"), [(PREFIX + key).encode()], "keys after login")
    expect(stored(key), {"user": "ann", "cart": []}, "stored session")
    assert_ttl(server, PREFIX + key, AGE)

    # Read.
    expect(c.get("/me").json(), {"user": "ann", "cart": []}, "session read back")

    # Update: value rewritten with the full age again.
    server.expire(PREFIX + key, 100)
    c.post("/cart", {"item": "apple"})
    c.post("/cart", {"item": "pear"})
    expect(c.get("/me").json(), {"user": "ann", "cart": ["apple", "pear"]}, "updated session")
    expect(stored(key), {"user": "ann", "cart": ["apple", "pear"]}, "stored update")
    assert_ttl(server, PREFIX + key, AGE)

    # cycle_key: new key, same data, old key deleted.
    c.post("/cycle")
    new_key = c.cookies[cookie].value
    assert new_key != key, "cycle_key kept the key"
    expect(server.exists(PREFIX + key), 0, "old key after cycle_key")
    expect(stored(new_key), {"user": "ann", "cart": ["apple", "pear"]}, "moved session")
    assert_ttl(server, PREFIX + new_key, AGE)
    expect(c.get("/me").json()["user"], "ann", "read after cycle_key")

    # flush (logout): key deleted, cookie emptied.
    c.post("/logout")
    expect(server.exists(PREFIX + new_key), 0, "key after flush")
    expect(c.cookies[cookie].value, "", "cookie after flush")
    expect(c.get("/me").json(), {"user": None, "cart": None}, "read after flush")
    expect(server.keys("*"), [], "keys after flush")

    # Expiry: set_expiry(1) gives the key a 1-second TTL and the server drops it.
    c.post("/short", {"user": "bob"})
    short_key = c.cookies[cookie].value
    assert_ttl(server, PREFIX + short_key, 1)
    expect(c.get("/me").json()["user"], "bob", "short session before expiry")
    time.sleep(2.2)
    expect(server.exists(PREFIX + short_key), 0, "key after expiry")
    expect(c.get("/me").json()["user"], None, "session after expiry")

    # The SessionStore API directly: exists, load, delete.
    s = SessionStore()
    s["n"] = 1
    s.create()
    expect(s.exists(s.session_key), True, "SessionStore.exists")
    expect(SessionStore(session_key=s.session_key).load(), {"n": 1}, "SessionStore.load")
    s.delete()
    expect(s.exists(s.session_key), False, "exists after delete")

    # Cache API calls beside sessions: set_many (MULTI/MSET/EXPIRE/EXEC), get_many (MGET),
    # touch (EXPIRE/PERSIST), add (SET NX), incr, delete_many, clear (FLUSHDB).
    cache.set_many({"a": 1, "b": "two"}, timeout=30)
    assert_ttl(server, ":1:a", 30)
    expect(cache.get_many(["a", "b", "zz"]), {"a": 1, "b": "two"}, "get_many")
    expect(cache.touch("a", None), True, "touch(None)")
    expect(server.ttl(":1:a"), -1, "TTL after touch(None)")
    expect(cache.touch("b", 300), True, "touch(300)")
    assert_ttl(server, ":1:b", 300)
    expect(cache.add("a", 5), False, "add on an existing key")
    expect(cache.incr("a", 4), 5, "incr")
    cache.set("gone", "x", timeout=0)
    expect(server.exists(":1:gone"), 0, "timeout=0 deletes")
    cache.delete_many(["a", "b"])
    expect(server.keys(":1:*"), [], "keys after delete_many")
    cache.set("c", "x")
    cache.clear()
    expect(server.dbsize(), 0, "DBSIZE after clear")
    server.close()
    print(f"Django {django.get_version()} cache sessions over redis-py RESP{protocol}: ok")


def main() -> None:
    port = sys.argv[1]
    if len(sys.argv) > 2:  # child: one protocol
        os.environ["ROOST_PORT"] = port
        os.environ["ROOST_PROTOCOL"] = sys.argv[2]
        os.environ["DJANGO_SETTINGS_MODULE"] = "django_app.settings"
        sys.path.insert(0, HERE)
        flow(int(port), int(sys.argv[2]))
        return
    for protocol in ("3", "2"):
        subprocess.run([sys.executable, os.path.abspath(__file__), port, protocol], check=True)


if __name__ == "__main__":
    main()
