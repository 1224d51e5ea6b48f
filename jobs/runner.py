"""Executes one run from start to end: lock, lease, checkpoint check, steps, final record.

The same code runs inside an RQ work horse and in the break-glass CLI.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from redis.lock import Lock

from jobs import audit, git, locks
from jobs.checkpoints import Checkpoint
from jobs.context import Context
from jobs.exceptions import RollbotError, RunbookError, UnknownTargetError
from jobs.executor import Executor, new_step_records
from jobs.lease import RunLease
from jobs.lifecycle import finalize_abandoned_run, is_abandoned
from jobs.plan import Plan, select, with_checkpoint
from jobs.process import output_file
from jobs.runbook.catalog import runbook_for
from jobs.runbook.model import Runbook
from jobs.runs import RunRecord, RunStatus, StepRecord

logger = logging.getLogger(__name__)

RUN_LOG_MAX_LINES = 5000
RunObserver = Callable[[StepRecord | None], None]  # told of each step change; None: the run changed


def plan_for(ctx: Context, runbook: Runbook, record: RunRecord) -> Plan:
    """The record's plan with the phase's recorded checkpoint and the run id filled in."""
    plan = select(runbook, record.kind, record.phase, record.level)
    return with_checkpoint(plan, ctx.checkpoints.get(runbook.service, record.phase), record.run_id)


def execute_queued_run(ctx: Context, run_id: str, observers: Sequence[RunObserver] = ()) -> RunRecord:
    """Load the run's service's runbook and execute the queued run `run_id` (the RQ job body)."""
    try:
        runbook = runbook_for(ctx, ctx.runs.get(run_id).service)
    except (RunbookError, UnknownTargetError) as error:
        record = _end_unstarted(ctx, run_id, "failed", f"runbook could not be loaded: {error.user_message}")
        for observer in observers:
            observer(None)
        return record
    return execute_run(ctx, run_id, runbook, observers)


def execute_run(ctx: Context, run_id: str, runbook: Runbook, observers: Sequence[RunObserver] = ()) -> RunRecord:
    """Execute the queued run `run_id`; returns its final record. A run that is no longer queued
    (cancelled before it started, or picked up twice) is returned untouched. `observers` hear of
    every change (they must be quick: a Slack notifier only marks its message for an update).
    """

    def notify(step: StepRecord | None) -> None:
        for observer in observers:
            observer(step)

    try:
        return _execute(ctx, run_id, runbook, notify)
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
    moved = plan.checkpoint is not None and plan.checkpoint.commit != record.checkpoint_commit
    if record.kind == "rollback" and record.checkpoint_commit and plan.checkpoint and moved:
        message = (
            f"the {record.phase} checkpoint changed after this rollback was confirmed (it was "
            f"{record.checkpoint_commit[:12]}, now {plan.checkpoint.commit[:12]}); confirm the new plan"
        )
        return _end_unstarted(ctx, run_id, "refused", message)
    lock = locks.service_lock(ctx.redis, ctx.keys, runbook.service, record.lane, plan.budget)
    holder = _acquire(ctx, lock, run_id)
    if holder is not None:
        message = f"another run of {runbook.service} holds the lock: {_describe_run(ctx, holder)}"
        return _end_unstarted(ctx, run_id, "refused", message, holder_run_id=holder)
    try:
        with RunLease(ctx.redis, ctx.keys, run_id, ctx.settings.rollbot_lease_seconds) as lease:
            try:
                plan.require_checkpoint()
            except RollbotError as error:
                return _end_unstarted(ctx, run_id, "refused", error.user_message)
            return _run_steps(ctx, plan, run_id, lease, notify)
    except KeyboardInterrupt:
        finalize_abandoned_run(
            ctx, run_id, "cancelled", "stopped from the terminal that ran it (interrupted or closed)"
        )
        raise
    except Exception as error:
        logger.exception("run %s crashed", run_id)
        _end_crashed(ctx, run_id, error)
        raise
    finally:
        locks.release_if_held_by(ctx.redis, ctx.keys, runbook.service, record.lane, run_id)


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


def _run_steps(ctx: Context, plan: Plan, run_id: str, lease: RunLease, notify: RunObserver) -> RunRecord:
    repo = plan.runbook.repo
    records = new_step_records(plan, ctx.redactor)
    head_before = _head(repo)
    started = ctx.clock()

    def start(record: RunRecord) -> bool:
        if record.status != "queued":
            return False
        record.status, record.started_at, record.steps = "running", started, records
        record.host, record.pid, record.head_before = socket.gethostname(), os.getpid(), head_before
        if plan.checkpoint:
            record.checkpoint_tag, record.checkpoint_commit = plan.checkpoint.tag, plan.checkpoint.commit
        return True

    record = ctx.runs.update(run_id, start)
    if record.status != "running" or record.started_at != started:
        return record  # cancelled between dequeue and start
    notify(None)
    ctx.audit(
        actor=record.actor,
        action=f"{record.kind}.start",
        result="running",
        run_id=run_id,
        phase=plan.phase_name,
        level=plan.level_name,
    )

    def save_step(step: StepRecord, output: str | None) -> None:
        lines = (output or "").splitlines()[-RUN_LOG_MAX_LINES:]
        with ctx.redis.pipeline(transaction=False) as pipe:
            ctx.runs.save_step(run_id, step, pipe)
            if lines:
                pipe.rpush(ctx.keys.run_log(run_id), *lines)
                pipe.ltrim(ctx.keys.run_log(run_id), -RUN_LOG_MAX_LINES, -1)
            if step.status != "running":  # each step's end, audited in the same round trip
                audit.record(pipe, ctx.keys, actor=record.actor, action="step.end", result=step.status, run_id=run_id,
                             args={"step": step.index, "title": step.title,
                                   "started_at": step.started_at.isoformat() if step.started_at else None,
                                   "duration": round(step.duration, 3) if step.duration is not None else None},
                             retention_seconds=ctx.settings.rollbot_audit_retention)  # fmt: skip
            pipe.execute()
        notify(step)

    def save_checkpoint(checkpoint: Checkpoint) -> Checkpoint | None:
        replaced = ctx.checkpoints.record(plan.runbook.service, plan.phase_name, checkpoint)

        def note(current: RunRecord) -> None:
            current.checkpoint_tag, current.checkpoint_commit = checkpoint.tag, checkpoint.commit

        ctx.runs.update(run_id, note)
        ctx.audit(
            actor=record.actor,
            action="checkpoint.record",
            result=checkpoint.tag,
            run_id=run_id,
            phase=plan.phase_name,
            commit=checkpoint.commit,
            replaces=replaced.tag if replaced else None,
        )
        return replaced

    with output_file(run_id) as output:
        executor = Executor(
            plan=plan,
            run_id=run_id,
            actor=record.actor,
            output=output,
            redactor=ctx.redactor,
            should_stop=lease.cancel_requested,
            clock=ctx.clock,
            record_checkpoint=save_checkpoint,
            on_step=save_step,
            ca_bundle=ctx.settings.ca_bundle,
        )
        status, elapsed = executor.run(records)
    return _finish(ctx, run_id, status, elapsed, _head(repo), lease.cancel_requested())


def _finish(
    ctx: Context,
    run_id: str,
    status: RunStatus,
    elapsed: float,
    head_after: str | None,
    cancelled_by: str | None,
) -> RunRecord:
    now = ctx.clock()

    def finish(record: RunRecord) -> bool:
        if record.status != "running":
            return False  # already ended from outside (its lease was lost): that verdict stands
        record.status, record.ended_at, record.elapsed, record.head_after = status, now, elapsed, head_after
        if status == "cancelled":
            record.cancelled_by = cancelled_by
        return True

    record = ctx.runs.update(run_id, finish)
    ctx.audit(
        actor=record.actor,
        action=f"{record.kind}.end",
        result=status,
        run_id=run_id,
        elapsed=round(elapsed, 3),
        budget=record.budget,
        head=head_after,
    )
    return record


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

    ctx.runs.update(run_id, end)


def _head(repo: Path) -> str | None:
    try:
        return git.head(repo)
    except git.GitError:
        return None
