"""Flask-Session (Redis backend) driven through Flask's own test client.

Usage: python3 flask_session_app.py PORT

A small Flask app keeps its sessions in the server through Flask-Session's RedisSessionInterface
(redis-py 8 underneath, in its default RESP3 and again in RESP2). The script checks what a
user sees (the session read back, the cookie) and what is stored on the server (the key
`session:<sid>`, its msgpack value and its TTL, which must equal PERMANENT_SESSION_LIFETIME)
through create, read, update, regenerate, logout and expiry.
"""

import sys
import time
from datetime import timedelta

import msgspec
import redis
from flask import Flask, jsonify, request, session
from flask_session import Session

LIFETIME = 600


def make_app(client: redis.Redis, lifetime: int) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="compat",
        SESSION_TYPE="redis",
        SESSION_REDIS=client,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=lifetime),
    )
    Session(app)

    @app.post("/login")
    def login():
        session["user"] = request.form["user"]
        session["cart"] = []
        return "ok"

    @app.get("/me")
    def me():
        return jsonify(user=session.get("user"), cart=session.get("cart"))

    @app.post("/cart")
    def add_to_cart():
        session["cart"] = session.get("cart", []) + [request.form["item"]]
        return "ok"

    @app.post("/regenerate")
    def regenerate():
        app.session_interface.regenerate(session)
        return "ok"

    @app.post("/logout")
    def logout():
        session.clear()
        return "ok"

    return app


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def sid_of(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def stored(server: redis.Redis, sid: str):
    raw = server.get(f"session:{sid}")
    if raw is None:
        return None
    data = msgspec.msgpack.decode(raw)
    expect(data.pop("_permanent", None), True, "stored _permanent flag")
    return data


def assert_ttl(server: redis.Redis, key: str, lifetime: int) -> None:
    ttl = server.ttl(key)
    assert lifetime - 2 <= ttl <= lifetime, f"TTL of {key}: {ttl}, expected {lifetime}"


def flow(port: int, protocol: int) -> None:
    server = redis.Redis(port=port, protocol=2)  # the checks' own connection
    server.flushdb()
    app = make_app(redis.Redis(port=port, protocol=protocol), LIFETIME)
    c = app.test_client()

    # A visitor without a session: nothing is stored, no cookie is set.
    expect(c.get("/me").json, {"user": None, "cart": None}, "anonymous read")
    expect(server.keys("session:*"), [], "keys after an anonymous visit")

    # Create.
    expect(c.post("/login", data={"user": "ann"}).status_code, 200, "login status")
    sid = sid_of(c)
    expect(server.keys("session:*"), [f"session:{sid}".encode()], "keys after login")
    expect(stored(server, sid), {"user": "ann", "cart": []}, "stored session")
    assert_ttl(server, f"session:{sid}", LIFETIME)

    # Read.
    expect(c.get("/me").json, {"user": "ann", "cart": []}, "session read back")

    # Update: the value changes and the TTL is set again.
    server.expire(f"session:{sid}", 100)
    c.post("/cart", data={"item": "apple"})
    c.post("/cart", data={"item": "pear"})
    expect(c.get("/me").json, {"user": "ann", "cart": ["apple", "pear"]}, "updated session")
    expect(stored(server, sid), {"user": "ann", "cart": ["apple", "pear"]}, "stored update")
    assert_ttl(server, f"session:{sid}", LIFETIME)

    # Regenerate: the old key is gone, the new one holds the same data.
    c.post("/regenerate")
    new_sid = sid_of(c)
    assert new_sid != sid, "regenerate kept the sid"
    expect(server.exists(f"session:{sid}"), 0, "old key after regenerate")
    expect(stored(server, new_sid), {"user": "ann", "cart": ["apple", "pear"]}, "moved session")
    assert_ttl(server, f"session:{new_sid}", LIFETIME)
    expect(c.get("/me").json["user"], "ann", "read after regenerate")

    # Logout: the key is deleted and the cookie cleared.
    c.post("/logout")
    expect(server.exists(f"session:{new_sid}"), 0, "key after logout")
    expect(c.get_cookie("session"), None, "cookie after logout")
    expect(c.get("/me").json, {"user": None, "cart": None}, "read after logout")
    expect(server.keys("session:*"), [], "keys after logout")

    # Expiry: with a 1-second lifetime the server drops the session by itself.
    short = make_app(redis.Redis(port=port, protocol=protocol), 1).test_client()
    short.post("/login", data={"user": "bob"})
    short_sid = sid_of(short)
    assert_ttl(server, f"session:{short_sid}", 1)
    expect(short.get("/me").json["user"], "bob", "short session before expiry")
    time.sleep(2.2)
    expect(server.exists(f"session:{short_sid}"), 0, "key after expiry")
    # The browser still sends the cookie (Flask sets it to expire too, the test client
    # may not drop it); the server must not know the session any more.
    expect(short.get("/me").json["user"], None, "session after expiry")
    server.close()
    print(f"Flask-Session over redis-py RESP{protocol}: ok")


def main() -> None:
    port = int(sys.argv[1])
    for protocol in (3, 2):
        flow(port, protocol)


if __name__ == "__main__":
    main()
