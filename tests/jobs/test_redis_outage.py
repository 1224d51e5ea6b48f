"""A worker's Redis client that waited out its retries once tries each later command once, on a
fresh connection, until Redis answers again (a run going on without Redis is not kept waiting at
every touch). A private `redis-server`, stopped and started again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.retry
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from jobs import factory
from jobs.core.settings import Settings
from tests.support.redis_server import PrivateRedis


def test_a_client_that_found_redis_away_tries_once_per_command_and_sees_it_back_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        client = factory.redis_client(settings=Settings(redis_url=server.url))
        retry = client.get_retry()
        assert isinstance(retry, factory.OutageAwareRetry)
        assert client.set("k", "v")
        monkeypatch.setattr(redis.retry, "sleep", lambda _seconds: None)  # the backoff's waits, not its tries
        connects: list[Connection] = []
        connect = Connection._connect

        def counted(connection: Connection) -> Any:
            connects.append(connection)
            return connect(connection)

        monkeypatch.setattr(Connection, "_connect", counted)
        server.stop()

        with pytest.raises(RedisConnectionError):
            client.get("k")
        assert len(connects) == 6 and retry.outage.known  # one try and 5 retries
        connects.clear()
        for _ in range(3):
            with pytest.raises(RedisConnectionError):
                client.get("k")
        assert len(connects) == 3  # one try each

        server.start()  # (empty)
        assert client.get("k") is None and client.set("k", "back")
        assert not retry.outage.known
    finally:
        server.stop()
