"""One rollback at a time per service: a redis-py Lock whose token is the holder's run id."""

from __future__ import annotations

from redis import Redis
from redis.exceptions import LockError
from redis.lock import Lock

from jobs.keys import Keys
from jobs.redis_values import optional_text

LOCK_MARGIN_SECONDS = 600.0  # the lock outlives the budget by this much, then expires on its own


def service_lock(redis: Redis, keys: Keys, service: str, budget: float) -> Lock:
    """The service's lock; its timeout reaches past the run's budget so it never expires mid-run."""
    return Lock(redis, keys.service_lock(service), timeout=budget + LOCK_MARGIN_SECONDS, thread_local=False)


def acquire(lock: Lock, run_id: str) -> str | None:
    """Take `lock` for `run_id` without waiting. None when taken; else the holder's run id."""
    if lock.acquire(blocking=False, token=run_id):
        return None
    return optional_text(lock.redis.get(lock.name)) or "(released just now; try again)"


def holder(redis: Redis, keys: Keys, service: str) -> str | None:
    """The run id holding the service's lock, if any."""
    return optional_text(redis.get(keys.service_lock(service)))


def release_if_held_by(redis: Redis, keys: Keys, service: str, run_id: str) -> bool:
    """Release the service's lock when `run_id` holds it (compare-and-delete). True if released."""
    lock = Lock(redis, keys.service_lock(service), thread_local=False)
    try:
        lock.do_release(run_id)
    except LockError:
        return False
    return True
