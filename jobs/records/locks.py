"""One run at a time per service and lane: a redis-py Lock whose token is the holder's run id.

Rollbacks and preflights share the `change` lane (both move the checkout); validations have
their own lane, so a long validation never blocks an emergency rollback.
"""

from __future__ import annotations

from collections.abc import Callable

from redis import Redis
from redis.exceptions import LockError
from redis.lock import Lock

from jobs.core.keys import Keys
from jobs.core.redis_values import optional_text

LOCK_MARGIN_SECONDS = 600.0  # the lock outlives the budget by this much, then expires on its own


def service_lock(redis: Redis, keys: Keys, service: str, lane: str, budget: float) -> Lock:
    """The service's lock for `lane`; its timeout reaches past the run's budget."""
    return Lock(redis, keys.service_lock(service, lane), timeout=budget + LOCK_MARGIN_SECONDS, thread_local=False)


def acquire(lock: Lock, run_id: str, take: Callable[[], bool] | None = None) -> str | None:
    """Take `lock` for `run_id` without waiting (one try: `take()` when given, which takes it and
    more, as a run's lease). None when taken; else the holder's run id.
    """
    for _ in range(3):  # a holder that lets go between our two reads is no holder
        if take() if take is not None else lock.acquire(blocking=False, token=run_id):
            return None
        if (holder := optional_text(lock.redis.get(lock.name))) is not None:
            return holder
    return "(another run, changing hands)"


def holder(redis: Redis, keys: Keys, service: str, lane: str = "change") -> str | None:
    """The run id holding the service's lock for `lane`, if any."""
    return optional_text(redis.get(keys.service_lock(service, lane)))


def release_if_held_by(redis: Redis, keys: Keys, service: str, lane: str, run_id: str) -> bool:
    """Release the lock when `run_id` holds it (compare-and-delete). True if released."""
    lock = Lock(redis, keys.service_lock(service, lane), thread_local=False)
    try:
        lock.do_release(run_id)
    except LockError:
        return False
    return True
