"""Executes one run from start to end: locks, lease, checkpoint check, steps, final record.

The same code runs inside an RQ work horse and in the break-glass CLI (with or without Redis).
The run's record lives in its executing process (`jobs.run_state.RunState`): kept in memory and
in a local journal, written to Redis while Redis answers, written back when it answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.exceptions import RedisError
from redis.lock import Lock

from jobs.context import Context
from jobs.core.exceptions import RollbotError, RunbookError, UnknownTargetError
from jobs.host.local_lock import LocalLock, lock_path
from jobs.records import locks, retention
from jobs.records.lease import RunLease
from jobs.records.runs import RunRecord, RunStatus, StepRecord
from jobs.runbook.catalog import runbook_for
from jobs.runbook.model import Runbook
from jobs.runs.lifecycle import finalize_abandoned_run, is_abandoned
from jobs.runs.plan import Plan, select, with_checkpoint
from jobs.runs.steps import RunObserver, open_state, refuse, run_steps

logger = logging.getLogger(__name__)


def plan_for(ctx: Context, runbook: Runbook, record: RunRecord) -> Plan:
    """The record's plan with the phase's recorded checkpoint (Redis, else the repository's git
    record, put back into Redis) and the run id filled in.
    """
    plan = select(runbook, record.kind, record.phase, record.level)
    checkpoint = ctx.checkpoints.get(runbook.service, record.phase, repo=runbook.repo)
    return with_checkpoint(plan, checkpoint, record.run_id)


def execute_queued_run(ctx: Context, run_id: str, observers: Sequence[RunObserver] = ()) -> RunRecord:
    """Load the run's service's runbook and execute the queued run `run_id` (the RQ job body)."""
    try:
        runbook = runbook_for(ctx, ctx.runs.get(run_id).service)
    except (RunbookError, UnknownTargetError) as error:
        record = _end_unstarted(ctx, run_id, "failed", f"runbook could not be loaded: {error.user_message}")
        for observer in observers:
            observer(None)
        return record
    record = execute_run(ctx, run_id, runbook, observers)
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


def execute_run(ctx: Context, run_id: str, runbook: Runbook, observers: Sequence[RunObserver] = ()) -> RunRecord:
    """Execute the queued run `run_id`; returns its final record. A run that is no longer queued
    (cancelled before it started, or picked up twice) is returned untouched. `observers` hear of
    every change (they must be quick: a Slack notifier only marks its message for an update).
    """
    notify = _observed(observers)
    try:
        return _execute(ctx, run_id, runbook, notify)
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


def _execute(ctx: Context, run_id: str, runbook: Runbook, notify: RunObserver) -> RunRecord:
    record = ctx.runs.get(run_id)
    if record.status != "queued":
        logger.info("run %s is %s, not queued: nothing to do", run_id, record.status)
        return record
    try:
        plan = plan_for(ctx, runbook, record)
    except RollbotError as error:
        return _end_unstarted(ctx, run_id, "refused", error.user_message)
    if (moved := _checkpoint_moved(plan, record)) is not None:
        return _end_unstarted(ctx, run_id, "refused", moved)
    lock = locks.service_lock(ctx.redis, ctx.keys, runbook.service, record.lane, plan.budget)
    holder = _acquire(ctx, lock, run_id)
    if holder is not None:
        message = f"another run of {runbook.service} holds the lock: {_describe_run(ctx, holder)}"
        return _end_unstarted(ctx, run_id, "refused", message, holder_run_id=holder)
    return _execute_locked(ctx, runbook, record, plan, notify)


def _execute_locked(ctx: Context, runbook: Runbook, record: RunRecord, plan: Plan, notify: RunObserver) -> RunRecord:
    """The run, once it holds the service's Redis lock: the local lock, the lease, then the steps."""
    run_id = record.run_id
    local = LocalLock(lock_path(runbook.repo, runbook.service, record.lane, ctx.settings.rollbot_state_dir))
    try:
        if (local_holder := local.acquire(run_id)) is not None:
            message = f"another run of {runbook.service} on this host holds {local.path}: {local_holder}"
            return _end_unstarted(ctx, run_id, "refused", message)
        with RunLease(ctx.redis, ctx.keys, run_id, ctx.settings.rollbot_lease_seconds) as lease:
            try:
                plan.require_checkpoint()
            except RollbotError as error:
                return _end_unstarted(ctx, run_id, "refused", error.user_message)
            state = open_state(ctx, runbook, record, plan, online=True)
            return run_steps(ctx, plan, state, lease.cancel_requested, notify)
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


def _acquire(ctx: Context, lock: Lock, run_id: str) -> str | None:
    """Take the service lock; a holder whose process died is cleaned up first (not waited out)."""
    holder = locks.acquire(lock, run_id)
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
    return locks.acquire(lock, run_id)


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
