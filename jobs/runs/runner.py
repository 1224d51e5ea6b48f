"""Executes one run from start to end: locks, lease, checkpoint check, steps, final record.

The same code runs inside an RQ work horse and in the break-glass CLI (with or without Redis).
The run's record lives in its executing process (`jobs.run_state.RunState`): kept in memory and
in a local journal, written to Redis while Redis answers, written back when it answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from redis.exceptions import RedisError
from redis.lock import Lock
from rq import get_current_job

from jobs.context import Context
from jobs.core.exceptions import RollbotError, RunbookError, UnknownTargetError
from jobs.host.local_lock import LocalLock, lock_path
from jobs.records import locks, retention
from jobs.records.checkpoints import Checkpoint, parse_checkpoint
from jobs.records.lease import RunLease
from jobs.records.runs import RunRecord, RunStatus, RunTarget, StepRecord, parse_record
from jobs.runbook.catalog import runbook_for
from jobs.runbook.model import Runbook
from jobs.runs.lifecycle import finalize_abandoned_run, is_abandoned
from jobs.runs.plan import Plan, select, with_checkpoint
from jobs.runs.steps import RunObserver, open_state, refuse, run_steps

logger = logging.getLogger(__name__)


def execute_queued_run(ctx: Context, run_id: str, observers: Sequence[RunObserver] = ()) -> RunRecord:
    """Load the run's service's runbook and execute the queued run `run_id` (the RQ job body). What
    the job says the run is (its `meta`) lets the record be read with the lock taken, in one go.
    """
    job = get_current_job()
    said = RunTarget.from_meta(job.meta) if job is not None and job.id == run_id else None
    target = said or RunTarget.of(ctx.runs.get(run_id))
    try:
        runbook = runbook_for(ctx, target.service)
    except (RunbookError, UnknownTargetError) as error:
        record = _end_unstarted(ctx, run_id, "failed", f"runbook could not be loaded: {error.user_message}")
        for observer in observers:
            observer(None)
        return record
    record = execute_run(ctx, run_id, runbook, observers, target)
    _trim_history(ctx)
    return record


def _trim_history(ctx: Context) -> None:
    """Runs and audit entries older than `ROLLBOT_RETENTION` leave Redis (a batch after each run)."""
    try:
        retention.trim(ctx.redis, ctx.keys, ctx.settings.rollbot_retention)
    except RedisError as error:
        logger.warning("retention skipped: Redis unavailable (%s)", error)


def _observed(observers: Sequence[RunObserver]) -> RunObserver:
    """One observer telling all of them; an observer that cannot reach Redis never stops the run."""

    def notify(step: StepRecord | None) -> None:
        for observer in observers:
            try:
                observer(step)
            except RedisError as error:
                logger.warning("run observer skipped: Redis unavailable (%s)", error)

    return notify


def execute_run(ctx: Context, run_id: str, runbook: Runbook, observers: Sequence[RunObserver] = (),
                said: RunTarget | None = None) -> RunRecord:  # fmt: skip
    """Execute the queued run `run_id`; returns its final record. A run that is no longer queued
    (cancelled before it started, or picked up twice) is returned untouched. `observers` hear of
    every change (they must be quick: a Slack notifier only marks its message for an update).
    `said`: what the run is (its service, phase, level), when the caller knows (else it is read).
    """
    notify = _observed(observers)
    try:
        return _execute(ctx, run_id, said or RunTarget.of(ctx.runs.get(run_id)), runbook, notify)
    finally:
        notify(None)


def execute_without_redis(ctx: Context, record: RunRecord, runbook: Runbook,
                          observers: Sequence[RunObserver] = ()) -> RunRecord:  # fmt: skip
    """Execute a run made while Redis does not answer (the break-glass CLI): the checkpoint comes
    from git, the host's local lock fences it, its record goes to the local journal (and to Redis
    as soon as Redis answers again).
    """
    notify = _observed(observers)
    try:
        plan = select(runbook, record.kind, record.phase, record.level)
        checkpoint = ctx.checkpoints.local(runbook.repo, runbook.service, record.phase)
        plan = with_checkpoint(plan, checkpoint, record.run_id)
        state = open_state(ctx, runbook, record, plan, online=False)
        request = {"phase": record.phase, "level": record.level, "redis": "down"}
        state.change(lambda _r: None, audit_entry={"actor": record.actor, "action": f"{record.kind}.request",
                                                   "result": "queued", "args": request})  # fmt: skip
        local = LocalLock(lock_path(runbook.repo, runbook.service, record.lane, ctx.settings.rollbot_state_dir))
        if (holder := local.acquire(record.run_id)) is not None:
            return refuse(state, f"another run of {runbook.service} on this host holds {local.path}: {holder}")
        try:
            try:
                plan.require_checkpoint()
            except RollbotError as error:
                return refuse(state, error.user_message)
            fail_fast = ctx.clients.redis_probe()  # never keeps a run made without Redis waiting for it
            with RunLease(fail_fast, ctx.keys, record.run_id, ctx.settings.rollbot_lease_seconds) as lease:
                return run_steps(ctx, plan, state, lease.cancel_requested, notify)
        finally:
            local.release()
    finally:
        notify(None)


def _execute(ctx: Context, run_id: str, target: RunTarget, runbook: Runbook, notify: RunObserver) -> RunRecord:
    try:
        plan = select(runbook, target.kind, target.phase, target.level)
    except RollbotError as error:
        if (record := ctx.runs.get(run_id)).status != "queued":
            return record
        return _end_unstarted(ctx, run_id, "refused", error.user_message)
    lock = locks.service_lock(ctx.redis, ctx.keys, runbook.service, target.lane, plan.budget)
    lease = RunLease(ctx.redis, ctx.keys, run_id, ctx.settings.rollbot_lease_seconds, deferred=True)
    record, checkpoint, taken = _claim(ctx, run_id, target, runbook, lock, lease)
    plan = with_checkpoint(plan, checkpoint, run_id)
    if (ended := _not_starting(ctx, record, target, plan)) is not None:
        if taken:
            _let_go(ctx, target, run_id, lease)
        return ended
    if not taken:

        def take() -> bool:  # one more try at the lock, with the lease
            return lease.held(lease.take_with_lock(ctx.redis, lock.name, run_id, lock.timeout or 0))

        holder = _acquire(ctx, lock, run_id, take)
        if holder is not None:
            message = f"another run of {runbook.service} holds the lock: {_describe_run(ctx, holder)}"
            return _end_unstarted(ctx, run_id, "refused", message, holder_run_id=holder)
    return _execute_locked(ctx, runbook, record, plan, lease, notify)


def _not_starting(ctx: Context, record: RunRecord, target: RunTarget, plan: Plan) -> RunRecord | None:
    """The record of a run that does not start after all (no longer queued, or refused); None
    when it starts.
    """
    if record.status != "queued":
        logger.info("run %s is %s, not queued: nothing to do", record.run_id, record.status)
        return record
    if RunTarget.of(record) != target:
        said = f"{target.kind} of {target.service} {target.phase} {target.level or ''}".strip()
        return _end_unstarted(ctx, record.run_id, "failed", f"its job names another run ({said})")
    if (moved := _checkpoint_moved(plan, record)) is not None:
        return _end_unstarted(ctx, record.run_id, "refused", moved)
    return None


def _claim(ctx: Context, run_id: str, target: RunTarget, runbook: Runbook, lock: Lock,
           lease: RunLease) -> tuple[RunRecord, Checkpoint | None, bool]:  # fmt: skip
    """One round trip: the run's record, its phase's checkpoint as Redis has it (else from the
    repository, put back, once the record says the run is to start), and a first try at the
    service lock with, only when that is taken, the run's lease.
    """
    with ctx.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(ctx.keys.run(run_id))
        pipe.get(ctx.keys.checkpoint(target.service, target.phase))
        lease.take_with_lock(pipe, lock.name, run_id, lock.timeout or 0)
        fields, cached, answer = pipe.execute()
    taken = lease.held(answer)
    record = parse_record(fields)
    if record is None:
        if taken:
            _let_go(ctx, target, run_id, lease)
        return ctx.runs.get(run_id), None, False  # (raises: no such run)
    checkpoint = parse_checkpoint(cached)
    if checkpoint is None and record.status == "queued":
        checkpoint = ctx.checkpoints.restore(runbook.repo, target.service, target.phase)
    return record, checkpoint, taken


def _let_go(ctx: Context, target: RunTarget, run_id: str, lease: RunLease) -> None:
    """Give up the service lock and the lease taken with it (the run does not start after all)."""
    lease.release()
    locks.release_if_held_by(ctx.redis, ctx.keys, target.service, target.lane, run_id)


def _execute_locked(ctx: Context, runbook: Runbook, record: RunRecord, plan: Plan, lease: RunLease,
                    notify: RunObserver) -> RunRecord:  # fmt: skip
    """The run, once it holds the service's Redis lock and its lease: the local lock, then the steps
    (the lease's keeper starts once the first step is under way).
    """
    run_id = record.run_id
    local = LocalLock(lock_path(runbook.repo, runbook.service, record.lane, ctx.settings.rollbot_state_dir))
    try:
        with lease:
            if (local_holder := local.acquire(run_id)) is not None:
                message = f"another run of {runbook.service} on this host holds {local.path}: {local_holder}"
                return _end_unstarted(ctx, run_id, "refused", message)
            try:
                plan.require_checkpoint()
            except RollbotError as error:
                return _end_unstarted(ctx, run_id, "refused", error.user_message)
            state = open_state(ctx, runbook, record, plan, online=True)
            return run_steps(ctx, plan, state, lease.cancel_requested, _keeping(lease, notify))
    except Exception as error:
        logger.exception("run %s crashed", run_id)
        _end_crashed(ctx, run_id, error)
        raise
    finally:
        local.release()
        try:
            locks.release_if_held_by(ctx.redis, ctx.keys, runbook.service, record.lane, run_id)
        except RedisError as error:
            logger.warning("run %s: lock not released (%s); it expires on its own", run_id, error)


def _keeping(lease: RunLease, notify: RunObserver) -> RunObserver:
    """`notify`, starting the lease's keeper with the run's first news (its first step is under way
    by then; news comes from the run and from its state's writer): the thread's start never delays
    that step.
    """

    def told(step: StepRecord | None) -> None:
        lease.keep()
        notify(step)

    return told


def _checkpoint_moved(plan: Plan, record: RunRecord) -> str | None:
    """Why a rollback may not run: its phase's checkpoint is no longer the one it was confirmed with."""
    if record.kind != "rollback" or not record.checkpoint_commit or plan.checkpoint is None:
        return None
    if plan.checkpoint.commit == record.checkpoint_commit:
        return None
    return (
        f"the {record.phase} checkpoint changed after this rollback was confirmed (it was "
        f"{record.checkpoint_commit[:12]}, now {plan.checkpoint.commit[:12]}); confirm the new plan"
    )


def _acquire(ctx: Context, lock: Lock, run_id: str, take: Callable[[], bool]) -> str | None:
    """Take the service lock (each try: `take()`); a holder whose process died is cleaned up first
    (not waited out).
    """
    holder = locks.acquire(lock, run_id, take)
    if holder is None:
        return None
    try:
        held_by = ctx.runs.get(holder)
    except RollbotError:
        return holder
    if is_abandoned(ctx, held_by):
        finalize_abandoned_run(ctx, holder, "interrupted", "the process running it stopped answering")
    elif not held_by.is_active:
        locks.release_if_held_by(ctx.redis, ctx.keys, held_by.service, held_by.lane, holder)
    else:
        return holder
    return locks.acquire(lock, run_id, take)


def _describe_run(ctx: Context, run_id: str) -> str:
    try:
        other = ctx.runs.get(run_id)
    except RollbotError:
        return f"run {run_id}"
    what = f"{other.kind} {other.phase}" + (f" {other.level}" if other.level else "")
    return f"run {run_id} ({what} by {other.actor}, {other.status})"


def _end_unstarted(
    ctx: Context, run_id: str, status: RunStatus, message: str, holder_run_id: str | None = None
) -> RunRecord:
    """End a run that never started a step (refused, or its runbook is broken)."""
    now = ctx.clock()
    message = ctx.redactor(message)

    def end(record: RunRecord) -> bool:
        if not record.is_active:
            return False
        record.status, record.ended_at, record.error, record.holder_run_id = (
            status,
            now,
            message,
            holder_run_id,
        )
        return True

    record = ctx.runs.update(run_id, end)
    logger.warning("run %s %s: %s", run_id, status, message)
    ctx.audit(actor=record.actor, action=f"{record.kind}.{status}", result=status, run_id=run_id, reason=message)
    return record


def _end_crashed(ctx: Context, run_id: str, error: Exception) -> None:
    now = ctx.clock()

    def end(record: RunRecord) -> bool:
        if not record.is_active:
            return False
        record.status, record.ended_at = "failed", now
        record.error = ctx.redactor(f"rollbot error: {type(error).__name__}: {error}")
        for step in record.steps:
            if step.status in ("running", "pending"):
                step.status = "interrupted" if step.status == "running" else "skipped"
        return True

    try:
        ctx.runs.update(run_id, end)
    except (RedisError, RollbotError) as failure:
        logger.error("run %s: crash not recorded (%s)", run_id, failure)
