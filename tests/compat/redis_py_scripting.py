"""redis-py 8 Lua scripting against a server, in RESP2 and in RESP3.

Usage: python3 redis_py_scripting.py PORT

NOT yet called from tests/compat.rs: EVAL/EVALSHA are being implemented in Roost. Add
it to tests/compat.rs once they land. Covers register_script (EVALSHA, NOSCRIPT, then
EVAL), plain EVAL/EVALSHA, SCRIPT LOAD/EXISTS/FLUSH, scripts in pipelines, the
compare-and-delete lock release phpredis and other lock libraries use, and django-redis's
incr script.
"""

import sys
import warnings

import redis

warnings.simplefilter("ignore", DeprecationWarning)

RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
else
    return 0
end
"""

# django-redis's incr: fails if the key is missing, keeps the TTL.
INCR = """
local exists = redis.call('EXISTS', KEYS[1])
if (exists == 1) then
    return redis.call('INCRBY', KEYS[1], ARGV[1])
else return false
end
"""


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def run(port: int, protocol: int) -> None:
    r = redis.Redis(port=port, protocol=protocol)
    r.script_flush()
    release = r.register_script(RELEASE)
    # First call: EVALSHA answers NOSCRIPT, redis-py loads the script and retries.
    r.set("lock:a", "me", px=30000)
    expect(release(keys=["lock:a"], args=["someone-else"]), 0, "release by another owner")
    expect(r.get("lock:a"), b"me", "lock still held")
    expect(release(keys=["lock:a"], args=["me"]), 1, "release by the owner")
    expect(r.exists("lock:a"), 0, "lock gone")
    expect(r.script_exists(release.sha), [True], "SCRIPT EXISTS after register_script")

    sha = r.script_load("return {KEYS[1], ARGV[1], 3, 'x'}")
    expect(r.evalsha(sha, 1, "k", "a"), [b"k", b"a", 3, b"x"], "EVALSHA reply types")
    expect(r.eval("return redis.call('set', KEYS[1], ARGV[1])", 1, "k", "v"), b"OK", "EVAL set")
    expect(r.eval("return redis.call('get', KEYS[1])", 1, "k"), b"v", "EVAL get")
    expect(r.eval("return redis.call('get', 'missing')", 0), None, "nil from a script")
    expect(r.eval("return 3.99", 0), 3, "a Lua number is truncated to an integer")
    try:
        r.evalsha("0" * 40, 0)
        raise AssertionError("EVALSHA of an unknown script should fail")
    except redis.exceptions.NoScriptError:
        pass
    try:
        r.eval("return redis.error_reply('MYERR custom')", 0)
        raise AssertionError("error_reply should raise")
    except redis.ResponseError as e:
        assert "custom" in str(e), str(e)

    incr = r.register_script(INCR)
    r.set("counter", 5, ex=100)
    expect(incr(keys=["counter"], args=[2]), 7, "incr script")
    assert 99 <= r.ttl("counter") <= 100, "INCRBY in a script keeps the TTL"
    expect(incr(keys=["nothing"], args=[1]), None, "incr script on a missing key")

    # Scripts inside a transactional pipeline: redis-py loads them before MULTI.
    r.script_flush()
    r.set("lock:b", "me")
    with r.pipeline() as pipe:
        release(keys=["lock:b"], args=["me"], client=pipe)
        pipe.exists("lock:b")
        expect(pipe.execute(), [1, 0], "script in a pipeline")
    r.delete("k", "counter")
    r.close()
    print(f"redis-py {redis.__version__} scripting RESP{protocol}: ok")


def main() -> None:
    port = int(sys.argv[1])
    for protocol in (2, 3):
        run(port, protocol)


if __name__ == "__main__":
    main()
