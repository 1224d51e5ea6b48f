"""The record of a run as its executing process holds it: in memory, in the local journal, and in
Redis whenever Redis answers.

The executing process is the authority on what its steps did. Redis going away, coming back
empty or failing over changes nothing for the run: it goes on from memory and its journal and
writes everything back once Redis answers. What only someone else can decide is respected: a run
that was cancelled or ended (`interrupted` by a sweep) from outside, or whose service lock another
run holds, is no longer this process's to continue (the fence, checked before every step).

A step's changes reach Redis from a background writer, a moment after the journal has them, so a
run of quick steps does not wait for a round trip per step; the fence trusts what Redis said at
most `FENCE_FRESH_SECONDS` ago (a lease outlives that many times over, and a run is only ended
from outside once its lease has lapsed), and asks again, waiting for the answer, when that is
older: after a long step, or after the process was frozen or the host asleep. One thing is not
bound to the lease: after Redis restarts empty, another run may take the free service lock at
once; this run then learns of it within that second rather than at its next step's end (on one
host the host's lock keeps the two apart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from jobs.context import Context
from jobs.core.redis_values import optional_text
from jobs.records import audit, locks
from jobs.records.journal import RUN_LOG_MAX_LINES, Entry, Journal, record_entry, write_back
from jobs.records.run_sync import sync_run
from jobs.records.runs import RunRecord, StepRecord

logger = logging.getLogger(__name__)

PROBE_EVERY_SECONDS = 2.0  # while Redis is away, how often a step boundary asks whether it is back
WRITE_EVERY_SECONDS = 0.02  # the background writer's changes, at most this often (a batch each time)
FENCE_FRESH_SECONDS = 1.0  # the fence trusts a verdict this recent (at most a quarter of the lease)


class RunState:
    """One executing run's record. Every change goes to memory and the journal first, then to
    Redis (one transaction with everything Redis has not confirmed yet) while Redis answers.
    """

    def __init__(
        self,
        ctx: Context,
        record: RunRecord,
        journal: Journal,
        online: bool,
        probe: Callable[[], Redis] | None = None,
        lock_timeout: float = 0.0,
        leased: bool = False,
    ) -> None:
        self.ctx = ctx
        self.record = record
        self.journal = journal
        self.online = online  # Redis answered the last time we asked
        self.ended_outside: RunRecord | None = None  # ended by someone else (cancel, sweep)
        self.entries: list[Entry] = []
        self._confirmed = -1  # index of the last entry Redis is known to have
        self._probe = probe
        self._last_probe = 0.0
        self._lock_timeout = lock_timeout
        self._leased = leased  # a lease thread keeps the run's lease: writing the record back renews it
        self._lock_key = ctx.keys.service_lock(record.service, record.lane)
        self._holder: str | None = None  # the service lock's holder, as the last sync saw it
        self._verdict_at = float("-inf")  # when (`_since_boot`) the last sync that answered was sent
        self._fence_fresh = min(FENCE_FRESH_SECONDS, ctx.settings.rollbot_lease_seconds / 4)
        self._lost = not online  # Redis never had (or lost) the run: the next sync writes all of it
        self._mutex = threading.RLock()  # one sync at a time: the writer's or the run's own
        self._entries_lock = threading.Lock()  # `entries` and `_waiting`, held only for a moment
        self._waiting: list[tuple[int, Callable[[], None]]] = []  # (entry index, call once Redis has it)
        self._calling = threading.Lock()  # `then` callbacks are called in order, one at a time
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._writer: threading.Thread | None = None

    # -- changes -------------------------------------------------------------------------------

    def change(self, apply: Callable[[RunRecord], None] | None, log_lines: list[str] | None = None,
               audit_entry: dict[str, Any] | None = None, steps: list[StepRecord] | None = None,
               then: Callable[[], None] | None = None) -> None:  # fmt: skip
        """Apply `apply` to the record, with optional log lines and an audit entry (`audit`'s
        arguments), then sync: one Redis round trip for all of it. `steps`: only these steps
        changed (the others are not written again; with no `apply`, nothing else). With `then`,
        the change is journaled now and reaches Redis a moment later from the background writer,
        which then calls `then()` (at once while Redis is away).
        """
        if apply is not None:
            apply(self.record)
        batch: list[Entry] = []
        if log_lines:
            batch.append(Entry("log", {"run_id": self.record.run_id, "lines": log_lines[-RUN_LOG_MAX_LINES:]}))
        if audit_entry is not None:
            batch.append(Entry("audit", {"fields": self._audit_fields(**audit_entry)}))
        batch.append(Entry("record", record_entry(self.record, steps, whole=apply is not None)))
        self._append(batch)
        if then is None:
            self.sync()
        else:
            self._write_later(then)

    def audit(self, *, actor: str, action: str, result: str, **args: Any) -> None:
        """An audit entry for this run (journaled, then written with the next sync)."""
        self._append([Entry("audit", {"fields": self._audit_fields(actor, action, result, args)})])
        self.sync()

    def checkpoint(self, service: str, phase: str, checkpoint: dict[str, Any]) -> None:
        """Journal a checkpoint the run recorded (git already has it), for Redis's sake."""
        self._append([Entry("checkpoint", {"service": service, "phase": phase, "checkpoint": checkpoint})])

    def _audit_fields(self, actor: str, action: str, result: str, args: dict[str, Any]) -> dict[str, str]:
        return audit.entry_fields(actor, action, result, self.record.run_id, args, self.ctx.redactor)

    def _append(self, batch: list[Entry]) -> None:
        with self._entries_lock:  # never behind a sync: a Ctrl-C here finds journal and memory alike
            try:
                self.journal.append_all(batch)
            finally:
                self.entries.extend(batch)

    def _write_later(self, then: Callable[[], None]) -> None:
        with self._entries_lock:
            self._waiting.append((len(self.entries) - 1, then))
        if not self.online:  # nothing to wait for: the journal has it, Redis gets it when it answers
            self._call_written()
            return
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name=f"state-{self.record.run_id}", daemon=True)
            self._writer.start()
        self._wake.set()

    def _write_loop(self) -> None:
        """The background writer: whatever the run journaled since its last visit, in one sync."""
        while True:
            self._wake.wait()
            self._wake.clear()  # before looking at `_closing`: a `close` from now on leaves it set
            if self._closing.is_set():
                return  # `close` writes the rest
            sent = time.monotonic()
            self.sync()
            self._call_written()
            self._closing.wait(max(0.0, sent + WRITE_EVERY_SECONDS - time.monotonic()))

    def _call_written(self) -> None:
        """Call the `then` of every change Redis now has (all of them while Redis is away)."""
        with self._calling:
            with self._entries_lock:
                upto = self._confirmed if self.online else len(self.entries) - 1
                due = [then for index, then in self._waiting if index <= upto]
                self._waiting = [(index, then) for index, then in self._waiting if index > upto]
            for then in due:
                try:
                    then()
                except Exception:  # the boundary of the writer's thread: one observer's bug stops no other
                    logger.exception("run %s: a run observer failed", self.record.run_id)

    # -- Redis -----------------------------------------------------------------------------------

    def sync(self, verdict_since: float | None = None) -> bool:
        """Write what Redis has not confirmed yet (one round trip); True when Redis now has all of
        it. A record Redis lost is written whole again; one ended from outside is left as it is
        (see `owns`). `verdict_since` (monotonic): ask Redis even with nothing to write unless a
        sync sent since then answered (the fence wants fresh news).
        """
        with self._mutex:
            return self._sync(verdict_since)

    def _sync(self, verdict_since: float | None) -> bool:
        if not self._reachable():
            return False
        with self._entries_lock:
            entries = list(self.entries)
        last = len(entries) - 1
        if last == self._confirmed and (verdict_since is None or self._verdict_at >= verdict_since):
            return True
        sent = _since_boot()
        lease = self.ctx.settings.rollbot_lease_seconds if self._leased else None
        try:
            found = None
            if not self._lost:
                found = sync_run(self.ctx.redis, self.ctx.keys, self.record.run_id, self._lock_key,
                                 entries[self._confirmed + 1 :], last, lease,
                                 self.ctx.settings.rollbot_audit_retention, time.time())  # fmt: skip
            if found is None or not found.found:  # Redis lost the run: write the whole journal back
                self._confirmed, self.ended_outside = write_back(
                    self.ctx.redis, self.ctx.keys, self.record.run_id, entries, self._confirmed,
                    outside_wins=True, lease_seconds=lease,
                )  # fmt: skip
                self._holder = optional_text(self.ctx.redis.get(self._lock_key))
                self._lost = False
            else:
                self._confirmed, self._holder = last, found.holder
                self.ended_outside = self.ended_outside or found.ended_outside
        except RedisError as error:
            self._went_away(error)
            return False
        self._verdict_at = sent
        return True

    def owns(self) -> str | None:
        """The fence, before a step: None while this process may go on; else why it must stop
        (ended from outside, or another run holds the service lock). While Redis is away the local
        lock alone fences this host, and the run goes on.
        """
        since = _since_boot() - self._fence_fresh
        if self._verdict_at < since and not self.sync(verdict_since=since):
            return None
        if not self.online:
            return None
        if self.ended_outside is not None:
            other = self.ended_outside
            why = other.error or other.cancelled_by or "no reason"
            return f"the run was ended from outside ({other.status}: {why})"
        holder = self.record.run_id if self.record.rehearsal else self._holder  # a rehearsal holds no lock
        if holder is None:  # Redis lost it (a restart, a failover): take it back
            try:
                lock = locks.service_lock(self.ctx.redis, self.ctx.keys, self.record.service, self.record.lane,
                                          self._lock_timeout)  # fmt: skip
                holder = locks.acquire(lock, self.record.run_id) or self.record.run_id
            except RedisError as error:
                self._went_away(error)
                return None
            self._holder = holder
        if holder != self.record.run_id:
            return f"run {holder} holds the {self.record.service} lock now"
        return None

    @property
    def synced(self) -> bool:
        """Whether Redis has every entry."""
        return self.online and self._confirmed == len(self.entries) - 1

    def close(self) -> None:
        """Last write-back; the journal is removed when Redis has everything, kept otherwise."""
        if self._writer is not None:
            self._closing.set()
            self._wake.set()
            self._writer.join()
        if not self.synced:
            self.sync()
        self._call_written()
        if not self.synced:
            self.journal.append("synced", upto=self._confirmed)
        self.journal.close(remove=self.synced)

    def _reachable(self) -> bool:
        if self.online:
            return True
        now = time.monotonic()
        if self._probe is None or now - self._last_probe < PROBE_EVERY_SECONDS:
            return False
        self._last_probe = now
        try:
            self._probe().ping()
        except RedisError:
            return False
        logger.warning("run %s: Redis answers again; writing the run back", self.record.run_id)
        self.online = True
        return True

    def _went_away(self, error: RedisError) -> None:
        self._lost = True  # when Redis answers again, it may have come back empty
        if self.online:
            logger.warning("run %s: Redis unavailable (%s); the run goes on from its journal %s",
                           self.record.run_id, error, self.journal.path)  # fmt: skip
        self.online = False
        self._last_probe = time.monotonic()


def _since_boot() -> float:
    """Seconds on a clock that goes on while the host sleeps (a suspended laptop or VM wakes to a
    stale verdict, not a fresh one), where there is one; else the monotonic clock.
    """
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()
