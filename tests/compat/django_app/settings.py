"""Minimal Django settings: sessions in the cache, the cache in the server under test.

The port comes from the ROOST_PORT environment variable (set by django_sessions.py).
No database: the cache session engine never touches one.
"""

import os

PORT = int(os.environ["ROOST_PORT"])
PROTOCOL = int(os.environ.get("ROOST_PROTOCOL", "3"))

SECRET_KEY = "compat-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True

INSTALLED_APPS = ["django.contrib.sessions"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = "django_app.urls"
DATABASES = {}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{PORT}/0",
        # Passed on to redis-py's connection pool.
        "OPTIONS": {"protocol": PROTOCOL},
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_COOKIE_AGE = 600
