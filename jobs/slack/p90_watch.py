"""A run observer that wakes the run message when a running step passes its usual p90, so the
message says so while it happens (the message is otherwise only updated when the run changes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from redis.exceptions import RedisError

from jobs.context import Context
from jobs.records import history
from jobs.records.history import Usual
from jobs.records.runs import StepRecord

logger = logging.getLogger(__name__)

AFTER_P90_SECONDS = 0.5  # the update lands just after the step passed its p90


class P90Watch:
    """Calls `wake()` once a running step of run `run_id` has run past its usual p90 (when it has
    history); a step that ends first cancels it.
    """

    def __init__(self, ctx: Context, run_id: str, wake: Callable[[], None]) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.wake = wake
        self._timers: dict[int, threading.Timer] = {}
        self._usual: dict[int, Usual | None] | None = None
        self._lock = threading.Lock()

    def changed(self, step: StepRecord | None) -> None:
        """A step started (arm its timer) or ended (disarm it); None: the run changed."""
        if step is None:
            return
        with self._lock:
            if step.status != "running":
                timer = self._timers.pop(step.index, None)
                if timer is not None:
                    timer.cancel()
                return
            if step.index in self._timers:
                return
            delay = self._p90(step)
            if delay is None:
                return
            timer = threading.Timer(delay + AFTER_P90_SECONDS, self.wake)
            timer.daemon = True
            self._timers[step.index] = timer
            timer.start()

    def close(self) -> None:
        """Disarm every timer (the run ended)."""
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def _p90(self, step: StepRecord) -> float | None:
        """The step's usual p90; the run's history is read once (one round trip per run)."""
        if self._usual is None:
            try:
                record = self.ctx.runs.get(self.run_id)
                titles = [s.title for s in record.steps]
                level = history.level_of(record)
                found = history.usual(self.ctx.redis, self.ctx.keys, record.service, record.phase, level, titles)
                self._usual = dict(enumerate(found))
            except RedisError as error:
                logger.info("run %s: no usual durations (%s)", self.run_id, error)
                self._usual = {}
        usual = self._usual.get(step.index)
        return usual.p90 if usual is not None else None
