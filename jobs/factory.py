"""The one place that builds connections and clients, once per process; jobs receive them from here."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry
from rq import Queue

from jobs.context import Context
from jobs.keys import QUEUE_NAMES, Keys
from jobs.redaction import Redactor
from jobs.settings import get_settings


@lru_cache
def get_redis() -> Redis:
    """The process's Redis client (redis-py pools are fork-safe: a work horse gets fresh sockets)."""
    settings = get_settings()
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=5)
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=5,
        socket_timeout=30,
        health_check_interval=30,
        retry=retry,
        retry_on_error=[ConnectionError, TimeoutError],
    )


@lru_cache
def get_keys() -> Keys:
    """Key names for this process's namespace."""
    return Keys(get_settings().rollbot_namespace)


def get_queue(name: str) -> Queue:
    """One of the queues named in DESIGN.md (`rollback`, `validation`, `monitor`)."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(get_keys().queue(name), connection=get_redis())


def get_queues() -> list[Queue]:
    """All queues, in the order a worker takes them (rollback first)."""
    return [get_queue(name) for name in QUEUE_NAMES]


@lru_cache
def get_context() -> Context:
    """The process's `Context`: one Redis client, settings, and a redactor for its secrets."""
    settings = get_settings()
    return Context(get_redis(), get_keys(), settings, Redactor(settings.secret_values()))
