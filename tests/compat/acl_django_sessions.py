"""Django's cache sessions on Django's RedisCache as a restricted ACL user.

Usage: python3 acl_django_sessions.py PORT

The server runs with session_users.conf: the default user is off, `admin` checks what
is stored, and `django` (`~:1:django.contrib.sessions.cache* +@read +@write -@dangerous`)
is what the cache logs in as, from `LOCATION = "redis://django:django-secret@host:port/0"`.
The app in django_app/ runs through Django's test client, with redis-py in RESP3 then
RESP2 (each in a fresh interpreter, as Django reads its settings once): create, read,
update, cycle_key, flush, set_expiry expiry, and the SessionStore API; nothing it sends
is refused (redis-py's CLIENT SETINFO aside, which it ignores). The same user gets NOPERM
for FLUSHALL, KEYS, CONFIG GET and keys outside the prefix; so do the cache's own
`clear()` (FLUSHDB is @dangerous) and cache keys beside the sessions (`:1:<key>`): a
cache used for more than sessions needs its own user or a wider pattern.
"""

import os
import pickle
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = ":1:django.contrib.sessions.cache"
USER, PASSWORD = "django", "django-secret"


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def assert_ttl(server, key: str, age: int) -> None:
    ttl = server.ttl(key)
    assert age - 2 <= ttl <= age, f"TTL of {key}: {ttl}, expected {age}"


def refusals(admin) -> list:
    return [
        f"{e['reason']} {e['object']}" for e in admin.acl_log() if e["username"] == USER
    ]


def flow(port: int, protocol: int) -> None:
    import django
    import redis
    from django.conf import settings

    sys.path.insert(0, HERE)
    settings.configure(
        SECRET_KEY="compat-not-secret",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.sessions"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
        ROOT_URLCONF="django_app.urls",
        DATABASES={},
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://{USER}:{PASSWORD}@127.0.0.1:{port}/0",
                "OPTIONS": {"protocol": protocol},
            }
        },
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        SESSION_COOKIE_AGE=600,
    )
    django.setup()
    from django.contrib.sessions.backends.cache import SessionStore
    from django.core.cache import cache
    from django.test import Client

    admin = redis.Redis(port=port, protocol=2, username="admin", password="admin-secret")
    version72 = not admin.info("server")["redis_version"].startswith(("7.0.", "7.1."))
    admin.flushall()
    admin.acl_log_reset()

    def stored(key: str):
        raw = admin.get(PREFIX + key)
        return None if raw is None else pickle.loads(raw)

    c = Client()
    cookie = settings.SESSION_COOKIE_NAME
    expect(c.get("/me").json(), {"user": None, "cart": None}, "anonymous read")
    expect(c.post("/login", {"user": "ann"}).status_code, 200, "login status")
    key = c.cookies[cookie].value
    expect(admin.keys("*"), [(PREFIX + key).encode()], "keys after login")
    expect(stored(key), {"user": "ann", "cart": []}, "stored session")
    assert_ttl(admin, PREFIX + key, 600)
    expect(c.get("/me").json(), {"user": "ann", "cart": []}, "session read back")
    admin.expire(PREFIX + key, 100)
    c.post("/cart", {"item": "apple"})
    expect(stored(key), {"user": "ann", "cart": ["apple"]}, "stored update")
    assert_ttl(admin, PREFIX + key, 600)
    c.post("/cycle")
    new_key = c.cookies[cookie].value
    assert new_key != key, "cycle_key kept the key"
    expect(admin.exists(PREFIX + key), 0, "old key after cycle_key")
    expect(stored(new_key), {"user": "ann", "cart": ["apple"]}, "moved session")
    c.post("/logout")
    expect(admin.exists(PREFIX + new_key), 0, "key after flush")
    expect(c.get("/me").json(), {"user": None, "cart": None}, "read after flush")
    c.post("/short", {"user": "bob"})
    short_key = c.cookies[cookie].value
    assert_ttl(admin, PREFIX + short_key, 1)
    time.sleep(2.2)
    expect(admin.exists(PREFIX + short_key), 0, "key after expiry")
    expect(c.get("/me").json()["user"], None, "session after expiry")
    s = SessionStore()
    s["n"] = 1
    s.create()
    expect(s.exists(s.session_key), True, "SessionStore.exists")
    expect(SessionStore(session_key=s.session_key).load(), {"n": 1}, "SessionStore.load")
    s.delete()
    expect(s.exists(s.session_key), False, "exists after delete")
    expect(admin.dbsize(), 0, "DBSIZE after the lifecycle")
    # redis-py sends CLIENT SETINFO on connecting (Redis 7.2: @connection) and ignores
    # its failure.
    expect(
        [r for r in refusals(admin) if r != "command client|setinfo"],
        [],
        "refused during the session lifecycle",
    )

    # What the user may not do.
    client = redis.Redis(port=port, protocol=protocol, username=USER, password=PASSWORD)
    admin.set("other:1", "kept")
    admin.acl_log_reset()

    def run(command):
        if version72:
            return f"User {USER} has no permissions to run the '{command}' command"
        return f"this user has no permissions to run the '{command}' command"

    key_text = (
        "No permissions to access a key"
        if version72
        else "this user has no permissions to access one of the keys used as arguments"
    )
    for what, call, text in [
        ("FLUSHALL", client.flushall, run("flushall")),
        ("KEYS", lambda: client.keys("*"), run("keys")),
        ("CONFIG GET", lambda: client.config_get("*"), run("config|get")),
        ("GET outside the prefix", lambda: client.get("other:1"), key_text),
        ("SET outside the prefix", lambda: client.set("other:2", "x"), key_text),
        ("cache.clear() (FLUSHDB)", cache.clear, run("flushdb")),
        ("a cache key beside the sessions", lambda: cache.set("page", "x"), key_text),
    ]:
        try:
            call()
        except redis.exceptions.NoPermissionError as e:
            expect(str(e), text, what)
        else:
            raise AssertionError(f"{what}: no NOPERM")
    expect(admin.get("other:1"), b"kept", "other:1 untouched")
    expect(admin.exists("other:2", ":1:page"), 0, "nothing written outside the prefix")
    log = refusals(admin)
    for entry in [
        "command flushall",
        "command keys",
        "command config|get",
        "command flushdb",
        "key other:1",
        "key other:2",
        "key :1:page",
    ]:
        assert entry in log, f"{entry} not in ACL LOG: {log}"
    admin.flushall()
    print(f"Django {django.get_version()} cache sessions, redis-py RESP{protocol}, as {USER}: ok")


def main() -> None:
    port = sys.argv[1]
    if len(sys.argv) > 2:  # child: one protocol
        flow(int(port), int(sys.argv[2]))
        return
    for protocol in ("3", "2"):
        subprocess.run([sys.executable, os.path.abspath(__file__), port, protocol], check=True)


if __name__ == "__main__":
    main()
