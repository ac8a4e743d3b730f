"""A session service as a restricted ACL user, through Flask-Session (Redis backend).

Usage: python3 acl_session_service.py PORT

The default user (no password here) creates the user `sessions`, limited to the keys
`session:*` and to `+@read +@write -@dangerous`. A Flask app whose Flask-Session store
logs in as that user (redis-py, RESP3 then RESP2) does its whole job: login, read,
update, regenerate, logout, expiry. The same user gets NOPERM for FLUSHALL, KEYS,
CONFIG GET and keys outside its prefix, and the refusals are in ACL LOG.
"""

import sys
import time

import redis

from flask_session_app import assert_ttl, expect, make_app, sid_of, stored

USER, PASSWORD = "sessions", "svc-secret"


def noperm(call, text, what):
    try:
        call()
    except redis.exceptions.NoPermissionError as e:
        expect(str(e), text, what)
        return
    raise AssertionError(f"{what}: no NOPERM")


def flow(port: int, protocol: int) -> None:
    server = redis.Redis(port=port, protocol=2)  # the default user: the checks
    server.flushdb()
    client = redis.Redis(port=port, protocol=protocol, username=USER, password=PASSWORD)
    app = make_app(client, 600)
    c = app.test_client()
    expect(c.post("/login", data={"user": "ann"}).status_code, 200, "login")
    sid = sid_of(c)
    expect(stored(server, sid), {"user": "ann", "cart": []}, "stored session")
    assert_ttl(server, f"session:{sid}", 600)
    c.post("/cart", data={"item": "apple"})
    expect(c.get("/me").json, {"user": "ann", "cart": ["apple"]}, "read back")
    c.post("/regenerate")
    new_sid = sid_of(c)
    expect(server.exists(f"session:{sid}"), 0, "old key after regenerate")
    expect(stored(server, new_sid), {"user": "ann", "cart": ["apple"]}, "moved session")
    c.post("/logout")
    expect(server.exists(f"session:{new_sid}"), 0, "key after logout")
    short = make_app(client, 1).test_client()
    short.post("/login", data={"user": "bob"})
    short_sid = sid_of(short)
    time.sleep(2.2)
    expect(server.exists(f"session:{short_sid}"), 0, "key after expiry")
    expect(short.get("/me").json["user"], None, "session after expiry")

    # What the service may not do (Redis 7.2's texts).
    run = "User sessions has no permissions to run the '{}' command"
    noperm(client.flushall, run.format("flushall"), "FLUSHALL")
    noperm(lambda: client.keys("*"), run.format("keys"), "KEYS")
    noperm(lambda: client.config_get("*"), run.format("config|get"), "CONFIG GET")
    key = "No permissions to access a key"
    noperm(lambda: client.get("other:1"), key, "GET outside the prefix")
    noperm(lambda: client.set("other:1", "x"), key, "SET outside the prefix")
    expect(server.exists("other:1"), 0, "nothing written outside the prefix")
    log = server.acl_log()
    reasons = {(e["reason"], e["object"]) for e in log if e["username"] == USER}
    for entry in [("command", "flushall"), ("command", "keys"), ("key", "other:1")]:
        assert entry in reasons, f"{entry} not in ACL LOG: {reasons}"
    server.acl_log_reset()


def main() -> None:
    port = int(sys.argv[1])
    admin = redis.Redis(port=port, protocol=2)
    admin.execute_command(
        "ACL", "SETUSER", USER, "on", f">{PASSWORD}", "~session:*",
        "+@read", "+@write", "-@dangerous",
    )
    for protocol in (3, 2):
        flow(port, protocol)
    print("acl session service: ok")


if __name__ == "__main__":
    main()
