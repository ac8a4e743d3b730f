"""redis-py 8 over a Unix socket, as an application on the server's host configures it:
`unix_socket_path=` and `unix://` URLs, in RESP2 and RESP3.

Usage: python3 redis_py_unix.py SOCKET_PATH

The handshake (HELLO 3, CLIENT SETNAME, SELECT) and session-shaped commands through a
UnixDomainSocketConnection, a transactional pipeline, WATCH, pub/sub between two socket
clients, and what the server shows of them (CLIENT INFO: addr is the socket's path, flag
U). Then Flask-Session given a client made from a `unix://` URL. Exits non-zero with a traceback on the first assertion that fails.
"""

import sys
import time
import warnings

import redis

warnings.simplefilter("ignore", DeprecationWarning)


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def over_the_socket(path: str, protocol: int) -> None:
    r = redis.Redis(unix_socket_path=path, protocol=protocol, db=1, client_name=f"unix-p{protocol}")
    expect(r.ping(), True, "PING")
    conn = r.connection_pool.get_connection()
    try:
        assert isinstance(conn, redis.UnixDomainSocketConnection), type(conn)
        expect(conn.protocol, protocol, "negotiated protocol")
    finally:
        r.connection_pool.release(conn)
    info = {text(k): text(v) for k, v in r.client_info().items()}
    expect(info["addr"], f"{path}:0", "CLIENT INFO addr")
    expect(info["laddr"], f"{path}:0", "CLIENT INFO laddr")
    expect(info["flags"], "U", "CLIENT INFO flags")
    expect(info["name"], f"unix-p{protocol}", "CLIENT SETNAME in the handshake")
    expect(str(info["db"]), "1", "SELECT in the handshake")

    r.flushdb()
    key = "session:" + "f" * 32
    expect(r.setex(key, 1800, b"\x80\x04payload"), True, "SETEX")
    expect(r.get(key), b"\x80\x04payload", "GET")
    ttl = r.ttl(key)
    assert 1798 <= ttl <= 1800, f"TTL {ttl}"
    expect(r.expire(key, 3600), True, "EXPIRE")
    expect(r.set(key + ":lock", "1", nx=True, px=5000), True, "SET NX PX")
    expect(r.set(key + ":lock", "1", nx=True, px=5000), None, "SET NX PX when taken")

    with r.pipeline() as pipe:
        pipe.hset("cart:1", mapping={"apple": 2, "pear": 1}).expire("cart:1", 60).hgetall("cart:1")
        replies = pipe.execute()
    expect({text(k): text(v) for k, v in replies[2].items()}, {"apple": "2", "pear": "1"}, "pipeline HGETALL")

    def bump(pipe):
        n = int(pipe.get("counter") or 0)
        pipe.multi()
        pipe.set("counter", n + 1)

    r.transaction(bump, "counter")
    r.transaction(bump, "counter")
    expect(r.get("counter"), b"2", "WATCH transactions")

    other = redis.Redis(unix_socket_path=path, protocol=protocol)
    pubsub = other.pubsub()
    pubsub.subscribe("logout")
    deadline = time.time() + 5
    while pubsub.get_message(timeout=0.1) is None and time.time() < deadline:
        pass
    expect(r.publish("logout", "sid-1"), 1, "PUBLISH reaches the subscriber on the socket")
    message = None
    while message is None and time.time() < deadline:
        message = pubsub.get_message(timeout=0.1)
    assert message is not None, "no message on the subscription"
    expect(text(message["data"]), "sid-1", "message data")
    pubsub.close()
    other.close()

    r.flushdb()
    r.close()


def from_url(path: str) -> None:
    r = redis.from_url(f"unix://{path}?db=3&protocol=3")
    expect(r.ping(), True, "PING through a unix:// URL")
    r.set("url", "yes")
    expect(redis.Redis(unix_socket_path=path, db=3).get("url"), b"yes", "db from the URL's query")
    r.flushdb()
    r.close()


def flask_session(path: str) -> None:
    from flask import Flask, session
    from flask_session import Session

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="compat",
        SESSION_TYPE="redis",
        SESSION_REDIS=redis.from_url(f"unix://{path}"),
        SESSION_KEY_PREFIX="session:",
    )
    Session(app)

    @app.route("/login")
    def login():
        session["user"] = "ann"
        return "ok"

    @app.route("/whoami")
    def whoami():
        return session.get("user", "nobody")

    server = redis.Redis(unix_socket_path=path)
    with app.test_client() as client:
        expect(client.get("/login").status_code, 200, "login")
        expect(client.get("/whoami").get_data(as_text=True), "ann", "session read back")
        keys = server.keys("session:*")
        expect(len(keys), 1, "one Flask session stored")
        assert server.ttl(keys[0]) > 0, "the session has a TTL"
    server.delete(*server.keys("session:*"))
    server.close()


def main() -> None:
    path = sys.argv[1]
    for protocol in (2, 3):
        over_the_socket(path, protocol)
    from_url(path)
    flask_session(path)
    print(f"redis-py {redis.__version__} over a Unix socket (RESP2, RESP3, Flask-Session): ok")


if __name__ == "__main__":
    main()
