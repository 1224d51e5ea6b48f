"""A run's lease: proof that the process executing it is alive, and its ear for cancel requests."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from jobs.core.keys import Keys
from jobs.core.redis_values import text

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5

# One try at a service lock (as redis-py's `Lock` takes it) and, only with it, a run's lease.
_WITH_LOCK = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return 1
end
return 0
"""


class RunLease:
    """Keeps `run:<id>:lease` alive while the run executes (a background thread, its keeper, renews
    it) and notices a cancel request. If the process dies, the lease expires and the run is found
    interrupted (see `jobs.lifecycle.sweep_interrupted`). The lease is taken on entering (unless
    `take_with_lock` took it); with `deferred` the keeper starts with `keep()` (the lease outlives
    that wait by far), not before.
    """

    def __init__(self, redis: Redis, keys: Keys, run_id: str, seconds: float, deferred: bool = False) -> None:
        self._redis = redis
        self._lease_key = keys.run_lease(run_id)
        self._cancel_key = keys.run_cancel(run_id)
        self._seconds = seconds
        self._stopping = threading.Event()
        self._cancelled_by: str | None = None
        self._away = False
        self._deferred = deferred
        self._held = False
        self._starting = threading.Lock()
        self._thread = threading.Thread(target=self._keep, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> RunLease:
        if not self._held:
            try:
                self._renew()
            except RedisError as error:  # a run made without Redis: the lease starts once Redis answers
                self._unavailable(error)
        if not self._deferred:
            self.keep()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def take_with_lock(self, client: Redis | Pipeline, lock_name: str, token: str, lock_seconds: float) -> Any:
        """One try at the lock `lock_name` (as `token`, for `lock_seconds`, as a redis-py `Lock`
        takes it) and, only when that is taken, this lease: one script, one round trip. Its answer
        (on a pipeline: from `execute()`) goes to `held`.
        """
        return client.eval(_WITH_LOCK, 2, lock_name, self._lease_key, token, int(lock_seconds * 1000),
                           int(self._seconds * 1000))  # fmt: skip

    def held(self, answer: Any) -> bool:
        """Whether `take_with_lock` answered that it took the lock and the lease (entering then
        leaves the lease as it is).
        """
        self._held = self._held or bool(answer)
        return bool(answer)

    def release(self) -> None:
        """Stop the keeper and give the lease up (what leaving does)."""
        with self._starting:
            self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=5)
        try:
            self._redis.delete(self._lease_key)
        except RedisError:
            logger.warning("could not delete lease %s; it expires on its own", self._lease_key)

    def keep(self) -> None:
        """Start the keeper (renewals, cancel requests), once, unless the lease was given up; from
        any thread.
        """
        with self._starting:
            if self._thread.ident is None and not self._stopping.is_set():
                self._thread.start()

    def cancel_requested(self) -> str | None:
        """Who asked to cancel the run, once someone has."""
        return self._cancelled_by

    def _renew(self) -> None:
        self._redis.set(self._lease_key, "1", px=int(self._seconds * 1000))

    def _keep(self) -> None:
        renew_every = self._seconds / 3
        renewed = time.monotonic()
        while not self._stopping.wait(CANCEL_POLL_SECONDS):
            try:
                if self._cancelled_by is None and (who := self._redis.get(self._cancel_key)) is not None:
                    self._cancelled_by = text(who)
                if time.monotonic() - renewed >= renew_every:
                    self._renew()
                    renewed = time.monotonic()
                self._away = False
            except RedisError as error:
                self._unavailable(error)

    def _unavailable(self, error: RedisError) -> None:
        """Said once per outage (the run goes on; its record waits in the journal)."""
        if not self._away:
            logger.warning("lease %s: Redis unavailable (%s); the run goes on", self._lease_key, error)
        self._away = True
