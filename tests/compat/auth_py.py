"""redis-py 8 against a server started with `--requirepass compat-secret`.

Usage: python3 auth_py.py PORT

RESP3 sends `HELLO 3 AUTH default <password>`, RESP2 sends `AUTH <password>`. Also checks
the errors a wrong or missing password gives (AuthenticationError: WRONGPASS, NOAUTH),
the URL form Flask-Session and Django configure, and AUTH with the user name.
"""

import sys

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

PASSWORD = "compat-secret"
NO_RETRY = Retry(NoBackoff(), 0)


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def main() -> None:
    port = int(sys.argv[1])
    for protocol in (3, 2):
        r = redis.Redis(port=port, protocol=protocol, password=PASSWORD)
        expect(r.ping(), True, "PING after AUTH")
        r.set("auth:k", "v", ex=60)
        expect(r.get("auth:k"), b"v", "GET after AUTH")
        r.close()

        named = redis.Redis(port=port, protocol=protocol, username="default", password=PASSWORD)
        expect(named.get("auth:k"), b"v", "AUTH default <password>")
        named.close()

        url = redis.Redis.from_url(f"redis://:{PASSWORD}@127.0.0.1:{port}/0?protocol={protocol}")
        expect(url.get("auth:k"), b"v", "password in the URL")
        url.close()

        # No retries: redis-py 8 otherwise retries a failed connect for about 4 s.
        wrong = redis.Redis(port=port, protocol=protocol, password="wrong", retry=NO_RETRY)
        try:
            wrong.ping()
            raise AssertionError("a wrong password was accepted")
        except redis.AuthenticationError as e:
            assert "WRONGPASS" in str(e) or "invalid" in str(e), str(e)
        wrong.close()

        # No password: RESP3's HELLO 3 is refused (NOAUTH), RESP2 fails at the first command.
        anonymous = redis.Redis(port=port, protocol=protocol, retry=NO_RETRY)
        try:
            anonymous.get("auth:k")
            raise AssertionError("a command without AUTH was accepted")
        except redis.AuthenticationError as e:
            assert "authenticat" in str(e).lower(), str(e)
        anonymous.close()
        print(f"redis-py {redis.__version__} with requirepass, RESP{protocol}: ok")
    r = redis.Redis(port=port, password=PASSWORD)
    r.delete("auth:k")
    r.close()


if __name__ == "__main__":
    main()
