"""Every measurement the health monitor took, per health source, kept for a few days: what the
incident report's success metrics and chart are drawn from.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from redis import Redis

from jobs.core.keys import Keys
from jobs.core.redis_values import text

KEEP_SECONDS = 3 * 86400
MAX_POINTS = 20_000  # per source: 3 days of polls every 15 s


class Point(BaseModel):
    """One measurement: when, its outcome, and the value of each metric that was read."""

    at: datetime
    outcome: str
    values: dict[str, float] = {}


def _key(keys: Keys, service: str, source: str) -> str:
    return f"{keys.monitor(service, source)}:measurements"


def record(redis: Redis, keys: Keys, service: str, source: str, point: Point) -> None:
    """Remember `point`; points older than `KEEP_SECONDS` (and beyond `MAX_POINTS`) are dropped."""
    name = _key(keys, service, source)
    stamp = point.at.timestamp()
    with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(name, {point.model_dump_json(): stamp})
        pipe.zremrangebyscore(name, "-inf", stamp - KEEP_SECONDS)
        pipe.zremrangebyrank(name, 0, -MAX_POINTS - 1)
        pipe.expire(name, KEEP_SECONDS)
        pipe.execute()


def read(redis: Redis, keys: Keys, service: str, source: str, since: datetime, until: datetime) -> list[Point]:
    """The points of `service/source` taken between `since` and `until`, oldest first."""
    raw = redis.zrangebyscore(_key(keys, service, source), since.timestamp(), until.timestamp())
    return [Point.model_validate_json(text(item)) for item in raw]
