"""The private Redis the stack starts when REDIS_URL is unset."""
from __future__ import annotations

import redis

from datasources.bus.redis_server import EmbeddedRedis, ensure_redis, redis_reachable


def test_embedded_redis_starts_answers_and_stops():
    server = EmbeddedRedis().start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert server.url.startswith("redis://127.0.0.1:")
    finally:
        server.stop()
    assert not redis_reachable(server.url)
    server.stop()  # idempotent


def test_ensure_redis_uses_given_url_or_starts_one(redis_url, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert ensure_redis(redis_url) == (redis_url, None)
    url, server = ensure_redis(None)
    try:
        assert server is not None and url == server.url and redis_reachable(url)
    finally:
        server.stop()
