"""The development Redis keeps queued work across a restart (issue: it never saved)."""

from __future__ import annotations

import redis

from config.stack import EmbeddedRedis


def test_the_demo_redis_saves_and_a_restart_keeps_queued_work(tmp_path):
    server = EmbeddedRedis(tmp_path, persist=True)
    url = server.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.config_get("save")["save"] == "60 1"
        client.lpush("celery", "a queued task")
    finally:
        server.stop()  # SIGTERM: Redis writes its snapshot as it stops

    again = EmbeddedRedis(tmp_path, persist=True)
    url = again.start()
    try:
        assert redis.Redis.from_url(url).lrange("celery", 0, -1) == [b"a queued task"]
    finally:
        again.stop()


def test_the_test_redis_keeps_nothing_on_disk(tmp_path):
    server = EmbeddedRedis(tmp_path, persist=False)
    url = server.start()
    try:
        assert redis.Redis.from_url(url).config_get("save")["save"] == ""
    finally:
        server.stop()
