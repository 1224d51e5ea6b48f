"""Values read from Redis: the client shared with RQ returns bytes (RQ needs decode_responses off)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from redis import Redis, WatchError
from redis.client import Pipeline

T = TypeVar("T")


def text(value: Any) -> str:
    """A Redis reply as `str`."""
    return value.decode() if isinstance(value, bytes) else str(value)


def optional_text(value: Any) -> str | None:
    """A Redis reply as `str`, None staying None."""
    return None if value is None else text(value)


def watched_update(
    redis: Redis,
    key: str,
    read: Callable[[Pipeline], T | None],
    change: Callable[[T], bool | None],
    write: Callable[[Pipeline, T], None],
) -> T | None:
    """Read, change and write back one stored value atomically: optimistic locking on `key` (WATCH),
    retried when another writer got there first. `change` returns False to leave the value as it
    is. Returns the value as stored, or None when there is none.
    """
    while True:
        with redis.pipeline() as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                value = read(pipe)
                if value is None or change(value) is False:
                    pipe.unwatch()
                    return value
                pipe.multi()
                write(pipe, value)
                pipe.execute()
                return value
            except WatchError:
                continue
