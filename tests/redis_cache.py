"""Tests that need the real shared cache: Django's Redis cache on METAQORE_TEST_REDIS_URL, with
a key prefix of their own (counters of one test only)."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

REDIS_URL = os.environ.get("METAQORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test against a real Redis, but {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"no Redis server at {REDIS_URL}")


def use_redis_cache(settings) -> None:
    """Point ``settings`` (pytest-django's fixture) at Redis, as production with REDIS_URL."""
    redis_or_skip()
    settings.REDIS_URL = REDIS_URL
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
