"""Flask-Session and Django cache sessions over TLS, configured with `rediss://` URLs.

Usage: python3 tls_py_sessions.py TLS_PORT CERT_DIR   (CERT_DIR holds ca.crt, client.crt,
client.key)

The server requires client certificates (tls-auth-clients yes): redis-py gets the CA and
the client pair as ssl_ca_certs / ssl_certfile / ssl_keyfile, through Flask-Session's
client and Django's RedisCache OPTIONS. Checks what the user sees and what is stored.
"""

import sys
from datetime import timedelta

import redis

port, cert_dir = sys.argv[1], sys.argv[2]
URL = f"rediss://127.0.0.1:{port}/0"
SSL = {
    "ssl_ca_certs": f"{cert_dir}/ca.crt",
    "ssl_certfile": f"{cert_dir}/client.crt",
    "ssl_keyfile": f"{cert_dir}/client.key",
}
server = redis.Redis.from_url(URL, **SSL)
assert server.ping() is True

# Without a client certificate the server refuses the connection.
try:
    redis.Redis.from_url(URL, ssl_ca_certs=SSL["ssl_ca_certs"]).ping()
    raise SystemExit("a client without a certificate was served")
except (redis.ConnectionError, OSError):
    pass

# --- Flask-Session
from flask import Flask, jsonify, request, session  # noqa: E402
from flask_session import Session  # noqa: E402

app = Flask(__name__)
app.config.update(
    SECRET_KEY="compat",
    SESSION_TYPE="redis",
    SESSION_REDIS=redis.Redis.from_url(URL, **SSL),
    PERMANENT_SESSION_LIFETIME=timedelta(seconds=600),
)
Session(app)


@app.post("/login")
def login():
    session["user"] = request.form["user"]
    return "ok"


@app.get("/me")
def me():
    return jsonify(user=session.get("user"))


@app.post("/logout")
def logout():
    session.clear()
    return "ok"


client = app.test_client()
assert client.post("/login", data={"user": "alice"}).status_code == 200
assert client.get("/me").json == {"user": "alice"}, client.get("/me").json
keys = server.keys("session:*")
assert len(keys) == 1, keys
assert 0 < server.ttl(keys[0]) <= 600, server.ttl(keys[0])
client.post("/logout")
assert client.get("/me").json == {"user": None}

# --- Django's cache session backend on RedisCache
import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    SECRET_KEY="compat",
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.sessions"],
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": URL,
            "OPTIONS": SSL,
            "KEY_PREFIX": "djtls",
        }
    },
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    SESSION_COOKIE_AGE=900,
)
django.setup()
from django.contrib.sessions.backends.cache import SessionStore  # noqa: E402

store = SessionStore()
store["user"] = "bob"
store.save()
key = store.session_key
stored = server.keys("djtls:*")
assert len(stored) == 1 and key.encode() in stored[0], stored
assert 0 < server.ttl(stored[0]) <= 900, server.ttl(stored[0])
assert SessionStore(session_key=key)["user"] == "bob"
SessionStore(session_key=key).delete()
assert server.keys("djtls:*") == []
assert SessionStore(session_key=key).get("user") is None
print("ok")
