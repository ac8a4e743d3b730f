"""redis-py 8 against a server, in RESP2 and in RESP3.

Usage: python3 redis_py.py PORT

Covers the handshake (HELLO 3 / CLIENT SETINFO / CLIENT SETNAME / SELECT), transactional
and plain pipelines, WATCH-based transactions, pub/sub (subscribe, get_message,
psubscribe), keyspace notifications (del and expired keyevents, as Spring's indexed
repository uses them) and the session-shaped commands the session plugins built on redis-py
send.
Exits non-zero with a traceback on the first assertion that fails.
"""

import sys
import time
import warnings

import redis

warnings.simplefilter("ignore", DeprecationWarning)  # setex() is "deprecated" but still sent


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def handshake(port: int, protocol: int) -> None:
    # client_name makes redis-py send CLIENT SETNAME (must reply OK), db=1 sends SELECT 1.
    r = redis.Redis(port=port, protocol=protocol, client_name=f"compat-p{protocol}", db=1)
    expect(r.ping(), True, "PING")
    name = r.client_getname()  # redis-py decodes it in RESP2 only
    expect(name.decode() if isinstance(name, bytes) else name, f"compat-p{protocol}", "GETNAME")
    r.set("compat:db", "one")
    r0 = redis.Redis(port=port, protocol=protocol, db=0)
    expect(r0.get("compat:db"), None, "key set in db 1 is not in db 0")
    expect(r.get("compat:db"), b"one", "GET in db 1")
    r.delete("compat:db")
    conn = r.connection_pool.get_connection()
    try:
        expect(conn.protocol, protocol, "negotiated protocol")
    finally:
        r.connection_pool.release(conn)
    if protocol == 3:
        hello = r.execute_command("HELLO", 3)
        hello = {k.decode() if isinstance(k, bytes) else k: v for k, v in hello.items()}
        expect(hello["proto"], 3, "HELLO 3 proto")
        assert isinstance(hello["id"], int), f"HELLO id is not an integer: {hello!r}"
        for field in ("server", "version", "mode", "role"):
            assert field in hello, f"HELLO reply lacks {field}: {hello!r}"
    r.close()
    r0.close()


def pipelines(r: redis.Redis) -> None:
    # Default pipeline: MULTI ... EXEC.
    with r.pipeline() as pipe:
        pipe.set("compat:pipe:a", "1").expire("compat:pipe:a", 100).get("compat:pipe:a")
        pipe.incr("compat:pipe:n").incrby("compat:pipe:n", 4)
        expect(pipe.execute(), [True, True, b"1", 1, 5], "MULTI/EXEC pipeline")
    # Plain pipeline.
    with r.pipeline(transaction=False) as pipe:
        pipe.set("compat:pipe:b", "2", ex=50).ttl("compat:pipe:b").get("compat:pipe:b")
        pipe.delete("compat:pipe:a", "compat:pipe:b", "compat:pipe:n").exists("compat:pipe:a")
        expect(pipe.execute(), [True, 50, b"2", 3, 0], "pipeline(transaction=False)")
    # An error inside a transaction is reported for that command only.
    r.set("compat:pipe:s", "text")
    with r.pipeline() as pipe:
        pipe.incr("compat:pipe:s").get("compat:pipe:s")
        results = pipe.execute(raise_on_error=False)
        assert isinstance(results[0], redis.ResponseError), results
        expect(results[1], b"text", "command after a failed one in EXEC")
    # WATCH-based optimistic transaction, as r.transaction() does it.
    r.set("compat:pipe:counter", 10)

    def double(pipe):
        value = int(pipe.get("compat:pipe:counter"))
        pipe.multi()
        pipe.set("compat:pipe:counter", value * 2)

    r.transaction(double, "compat:pipe:counter")
    expect(r.get("compat:pipe:counter"), b"20", "WATCH/MULTI/EXEC transaction")
    # A watched key changed by another client aborts EXEC.
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"])
    with r.pipeline() as pipe:
        pipe.watch("compat:pipe:counter")
        other.set("compat:pipe:counter", 99)
        pipe.multi()
        pipe.set("compat:pipe:counter", 0)
        try:
            pipe.execute()
            raise AssertionError("EXEC after a watched key changed should abort")
        except redis.WatchError:
            pass
    expect(r.get("compat:pipe:counter"), b"99", "aborted transaction left the key alone")
    other.close()
    r.delete("compat:pipe:s", "compat:pipe:counter")


def wait_message(p, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = p.get_message(timeout=0.2)
        if message is not None:
            return message
    raise AssertionError("no pub/sub message within 5 s")


def pubsub(r: redis.Redis, protocol: int) -> None:
    p = r.pubsub()
    p.subscribe("compat:news")
    expect(
        wait_message(p),
        {"type": "subscribe", "pattern": None, "channel": b"compat:news", "data": 1},
        "subscribe confirmation",
    )
    expect(r.publish("compat:news", "hello"), 1, "PUBLISH receivers")
    expect(
        wait_message(p),
        {"type": "message", "pattern": None, "channel": b"compat:news", "data": b"hello"},
        "message",
    )
    p.psubscribe("compat:sess:*")
    expect(
        wait_message(p),
        {"type": "psubscribe", "pattern": None, "channel": b"compat:sess:*", "data": 2},
        "psubscribe confirmation",
    )
    expect(r.publish("compat:sess:42", b"\x00bin\xff"), 1, "PUBLISH to a pattern")
    expect(
        wait_message(p),
        {
            "type": "pmessage",
            "pattern": b"compat:sess:*",
            "channel": b"compat:sess:42",
            "data": b"\x00bin\xff",
        },
        "pmessage",
    )
    # redis-py parses NUMSUB as a flat array in RESP3 too.
    expect(r.pubsub_numsub("compat:news"), [(b"compat:news", 1)], "PUBSUB NUMSUB")
    expect(r.pubsub_numpat(), 1, "PUBSUB NUMPAT")
    p.unsubscribe("compat:news")
    expect(wait_message(p)["type"], "unsubscribe", "unsubscribe confirmation")
    p.punsubscribe()
    expect(wait_message(p)["type"], "punsubscribe", "punsubscribe confirmation")
    expect(r.publish("compat:news", "nobody"), 0, "PUBLISH after unsubscribe")
    # The callback style that run_in_thread uses.
    seen = []
    p.subscribe(**{"compat:cb": lambda m: seen.append(m["data"])})
    wait_message_cb(p, seen, lambda: r.publish("compat:cb", "via-callback"))
    expect(seen, [b"via-callback"], "handler-based subscription")
    p.close()


def wait_message_cb(p, seen, publish) -> None:
    deadline = time.monotonic() + 5
    published = False
    while time.monotonic() < deadline and not seen:
        p.get_message(timeout=0.1)  # subscribe confirmation, then the message via the handler
        if not published and p.subscribed:
            publish()
            published = True
    assert seen, "handler never called"


def sessions(r: redis.Redis) -> None:
    key = "session:compat-abc"
    blob = bytes(range(256))  # session values are arbitrary bytes (msgpack, pickle)
    expect(r.set(key, blob, ex=600), True, "SET EX")
    expect(r.get(key), blob, "binary value read back")
    ttl = r.ttl(key)
    assert 599 <= ttl <= 600, f"TTL after SET EX 600: {ttl}"
    expect(r.set(key, b"new", ex=600, nx=True), None, "SET NX on an existing key")
    expect(r.exists(key), 1, "EXISTS")
    expect(r.expire(key, 1200), True, "EXPIRE")
    assert 1199 <= r.ttl(key) <= 1200, r.ttl(key)
    pttl = r.pttl(key)
    assert 1_199_000 <= pttl <= 1_200_000, f"PTTL: {pttl}"
    expect(r.set(key, "x", px=5000), True, "SET PX")
    assert 4000 <= r.pttl(key) <= 5000, r.pttl(key)
    expect(r.pexpire(key, 20000), True, "PEXPIRE")
    expect(r.persist(key), True, "PERSIST")
    expect(r.ttl(key), -1, "TTL without expiry")
    expect(r.getex(key, ex=30), b"x", "GETEX EX")
    assert 29 <= r.ttl(key) <= 30, r.ttl(key)
    expect(r.setex(key, 45, "y"), True, "SETEX")
    assert 44 <= r.ttl(key) <= 45, r.ttl(key)
    expect(r.setnx("session:compat-new", "1"), True, "SETNX")
    expect(r.mget([key, "session:compat-new", "session:missing"]), [b"y", b"1", None], "MGET")
    found = sorted(r.scan_iter(match="session:compat-*", count=1))
    expect(found, [b"session:compat-abc", b"session:compat-new"], "SCAN MATCH")
    expect(r.delete(key, "session:compat-new", "session:missing"), 2, "DEL")
    expect(r.get(key), None, "GET after DEL")
    expect(r.ttl(key), -2, "TTL of a missing key")
    # A hash-shaped session (Spring-style).
    expect(r.hset("compat:h", mapping={"user": "ann", "n": 1}), 2, "HSET mapping")
    expect(r.hgetall("compat:h"), {b"user": b"ann", b"n": b"1"}, "HGETALL")
    expect(r.hincrby("compat:h", "n", 2), 3, "HINCRBY")
    expect(r.pexpireat("compat:h", int(time.time() * 1000) + 60000), True, "PEXPIREAT")
    assert 58 <= r.ttl("compat:h") <= 60, r.ttl("compat:h")
    # Expiry really removes the key.
    r.set("compat:short", "v", px=150)
    time.sleep(0.4)
    expect(r.get("compat:short"), None, "GET after expiry")
    expect(r.exists("compat:h", "compat:short"), 1, "EXISTS counts live keys only")
    r.delete("compat:h")


def keyspace_events(r: redis.Redis) -> None:
    """What Spring's indexed repository listens to: del and expired keyevents."""
    old = r.config_get("notify-keyspace-events")["notify-keyspace-events"]
    expect(r.config_set("notify-keyspace-events", "Egx"), True, "CONFIG SET notify-keyspace-events")
    try:
        flags = r.config_get("notify-keyspace-events")["notify-keyspace-events"]
        expect(sorted(flags), sorted("gxE"), "CONFIG GET notify-keyspace-events")
        p = r.pubsub(ignore_subscribe_messages=True)
        p.subscribe("__keyevent@0__:del", "__keyevent@0__:expired")
        r.set("compat:ev:gone", "1")
        r.delete("compat:ev:gone")
        r.set("compat:ev:short", "1", px=100)
        got = [wait_message(p), wait_message(p)]
        expect(
            [(m["channel"], m["data"]) for m in got],
            [(b"__keyevent@0__:del", b"compat:ev:gone"), (b"__keyevent@0__:expired", b"compat:ev:short")],
            "keyevent notifications",
        )
        p.close()
    finally:
        r.config_set("notify-keyspace-events", old)


def main() -> None:
    port = int(sys.argv[1])
    for protocol in (2, 3):
        handshake(port, protocol)
        r = redis.Redis(port=port, protocol=protocol)
        pipelines(r)
        pubsub(r, protocol)
        sessions(r)
        keyspace_events(r)
        r.close()
        print(f"redis-py {redis.__version__} RESP{protocol}: ok")


if __name__ == "__main__":
    main()
