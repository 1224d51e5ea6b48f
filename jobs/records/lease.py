"""A run's lease: proof that the process executing it is alive, and its ear for cancel requests."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from redis import Redis
from redis.exceptions import RedisError

from jobs.core.keys import Keys
from jobs.core.redis_values import text

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5


class RunLease:
    """Keeps `run:<id>:lease` alive while the run executes (a background thread renews it) and
    notices a cancel request. If the process dies, the lease expires and the run is found
    interrupted (see `jobs.lifecycle.sweep_interrupted`).
    """

    def __init__(self, redis: Redis, keys: Keys, run_id: str, seconds: float) -> None:
        self._redis = redis
        self._lease_key = keys.run_lease(run_id)
        self._cancel_key = keys.run_cancel(run_id)
        self._seconds = seconds
        self._stopping = threading.Event()
        self._cancelled_by: str | None = None
        self._away = False
        self._thread = threading.Thread(target=self._keep, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> RunLease:
        try:
            self._renew()
        except RedisError as error:  # a run made without Redis: the lease starts once Redis answers
            self._unavailable(error)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        try:
            self._redis.delete(self._lease_key)
        except RedisError:
            logger.warning("could not delete lease %s; it expires on its own", self._lease_key)

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
