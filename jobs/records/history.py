"""How long each step usually takes: the last successful durations of every step of real runs and
rehearsals, by service, phase, level and step name, kept in Redis (the last `KEEP` of each).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis import Redis

from jobs.core.keys import Keys
from jobs.core.redis_values import text
from jobs.records.runs import RunRecord

KEEP = 20  # successful durations kept per step
DURATION_TTL_SECONDS = 400 * 86400  # a step nobody ran for over a year is forgotten


@dataclass(frozen=True)
class Usual:
    """A step's usual duration: the median and the 90th percentile of its last successful runs."""

    median: float
    p90: float
    count: int


def level_of(record: RunRecord) -> str:
    """The level part of a step's key: the rollback's level, else the kind (`preflight`, `validation`)."""
    return record.level or record.kind


def summarize(durations: Sequence[float]) -> Usual | None:
    """Median and p90 (nearest rank) of `durations`; None when there are none."""
    if not durations:
        return None
    ordered = sorted(durations)
    rank = max(1, math.ceil(0.9 * len(ordered)))
    return Usual(statistics.median(ordered), ordered[rank - 1], len(ordered))


def remember(redis: Redis, keys: Keys, record: RunRecord) -> int:
    """Add the durations of the run's succeeded steps (a rehearsal's skipped ones are not run, so
    not counted); returns how many were added. One round trip.
    """
    by_key: dict[str, list[str]] = {}  # steps of the same title share a key: one push for all of them
    for step in record.steps:
        if step.status == "succeeded" and step.duration is not None:
            key = keys.step_durations(record.service, record.phase, level_of(record), step.title)
            by_key.setdefault(key, []).append(f"{step.duration:.3f}")
    if by_key:
        with redis.pipeline(transaction=False) as pipe:
            for key, durations in by_key.items():
                pipe.lpush(key, *durations)
                pipe.ltrim(key, 0, KEEP - 1)
                pipe.expire(key, DURATION_TTL_SECONDS)
            pipe.execute()
    return sum(len(durations) for durations in by_key.values())


def usual(redis: Redis, keys: Keys, service: str, phase: str, level: str, titles: Iterable[str]) -> list[Usual | None]:
    """The usual duration of each step titled `titles` (None: no history yet), in order."""
    names = list(titles)
    with redis.pipeline(transaction=False) as pipe:
        for title in names:
            pipe.lrange(keys.step_durations(service, phase, level, title), 0, KEEP - 1)
        found = pipe.execute()
    return [summarize([float(text(value)) for value in values]) for values in found]
