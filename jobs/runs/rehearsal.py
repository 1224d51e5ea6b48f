"""Rehearsals: a level run for real on a scratch clone of the runbook's repository, so the day a
rollback is needed is not the first time its path is tried.

Git steps act on the clone (the reset is checked there: HEAD equals the checkpoint), HTTP steps run
as written (they only read), `run` steps are skipped unless marked `rehearse: run` (run in the
clone) or `rehearse: [argv…]` (that command instead). A rehearsal takes no service lock, has a run
id, a record, audit entries and the same progress message, and never pages. The clone is removed
afterwards, also when the rehearsal fails or is cancelled.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from jobs.context import Context
from jobs.core.exceptions import GitError, RollbotError
from jobs.core.task_names import Task
from jobs.host import git
from jobs.records.lease import RunLease
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.model import CommandStep, Runbook, StepBase
from jobs.runs import readiness
from jobs.runs.enqueue import new_record
from jobs.runs.plan import Plan, select, with_checkpoint
from jobs.runs.readiness import RehearsalResult

if TYPE_CHECKING:  # the executor (and httpx) is imported by a rehearsal's run, not by the planning `rollbot web` does
    from jobs.runs.steps import RunObserver

logger = logging.getLogger(__name__)

ID_PREFIX = "rh"
SCHEDULE_ACTOR = "rollbot:schedule"
CLONE_TIMEOUT_SECONDS = 600.0
NO_PUSH = "rollbot-rehearsal-never-pushes"  # the clone's push URL: pushing to the real repository fails


def rehearsal_steps(steps: Sequence[StepBase]) -> list[StepBase]:
    """The level's steps as a rehearsal runs them: a `rehearse: [argv…]` command in place of the
    real one (same title, so its history is the step's), everything else as it is.
    """
    swapped: list[StepBase] = []
    for step in steps:
        if isinstance(step, CommandStep) and isinstance(step.rehearse, list):
            swapped.append(step.model_copy(update={"name": step.title, "run": list(step.rehearse), "rehearse": "run"}))
        else:
            swapped.append(step)
    return swapped


def plan_rehearsal(ctx: Context, runbook: Runbook, phase: str | None, level: str | None) -> Plan:
    """The rehearsal's plan: the level's rollback plan with the recorded checkpoint (read from the
    real repository) and the rehearsal's steps.
    """
    plan = select(runbook, "rollback", phase, level)
    checkpoint = ctx.checkpoints.get(runbook.service, plan.phase_name, repo=runbook.repo)
    plan = with_checkpoint(plan, checkpoint)
    return dataclasses.replace(plan, steps=rehearsal_steps(plan.steps))


def create_rehearsal(ctx: Context, plan: Plan, actor: str, queued_for_workers: bool = False) -> RunRecord:
    """Store a queued rehearsal record and audit the request (`queued_for_workers`: its RQ job id is
    the run id; a cancel still reaches it through its lease, never by killing its work horse, so
    the clone is always removed).
    """
    now = ctx.clock()
    run_id = f"{ID_PREFIX}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    record = new_record(plan, actor, now, run_id=run_id, queued_for_workers=queued_for_workers, rehearsal=True)
    ctx.runs.create(record)
    ctx.audit(actor=actor, action="rehearsal.request", result="queued", run_id=record.run_id,
              phase=plan.phase_name, level=plan.level_name)  # fmt: skip
    return record


def scratch_dir(ctx: Context, run_id: str) -> Path:
    """Where a rehearsal's clone lives while it runs."""
    return ctx.settings.rollbot_state_dir / "rehearsals" / ctx.keys.namespace / run_id


def _remove_leftovers(ctx: Context) -> None:
    """Clones whose rehearsal is not running any more (its process was killed) are removed."""
    folder = scratch_dir(ctx, "x").parent
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            active = ctx.runs.get(path.name).is_active
        except RollbotError:
            active = False
        if not active:
            shutil.rmtree(path, ignore_errors=True)


def execute_rehearsal(ctx: Context, run_id: str, runbook: Runbook,
                      observers: Sequence[RunObserver] = ()) -> RehearsalResult:  # fmt: skip
    """Rehearse the queued rehearsal `run_id` and judge it (ready / not ready, with reasons)."""
    record = ctx.runs.get(run_id)
    plan = plan_rehearsal(ctx, runbook, record.phase, record.level)

    def notify(step: StepRecord | None) -> None:
        for observer in observers:
            try:
                observer(step)
            except RedisError as error:
                logger.warning("rehearsal observer skipped: Redis unavailable (%s)", error)

    try:
        final = _execute(ctx, record, runbook, plan, notify)
    finally:
        notify(None)
    return readiness.judge(ctx, runbook, plan, final)


def _execute(ctx: Context, record: RunRecord, runbook: Runbook, plan: Plan, notify: RunObserver) -> RunRecord:
    if record.status != "queued":
        return record
    try:
        plan.require_checkpoint()
    except RollbotError as error:
        return _refuse(ctx, record, error.user_message)
    _remove_leftovers(ctx)
    scratch = scratch_dir(ctx, record.run_id)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            git.git(runbook.repo, "clone", "--quiet", str(runbook.repo), str(scratch), timeout=CLONE_TIMEOUT_SECONDS)
            git.git(scratch, "remote", "set-url", "--push", "origin", NO_PUSH)  # a step's `git push` goes nowhere
        except (GitError, RollbotError) as error:
            return _refuse(ctx, record, f"could not clone {runbook.repo} for the rehearsal: {error.user_message}")
        rehearsed = dataclasses.replace(plan, runbook=runbook.model_copy(update={"repo": scratch}))
        rehearsed = with_checkpoint(rehearsed, plan.checkpoint, record.run_id)
        from jobs.runs.steps import open_state, run_steps  # noqa: PLC0415 - see TYPE_CHECKING above

        with RunLease(ctx.redis, ctx.keys, record.run_id, ctx.settings.rollbot_lease_seconds) as lease:
            state = open_state(ctx, rehearsed.runbook, record, rehearsed, online=True)
            return run_steps(ctx, rehearsed, state, lease.cancel_requested, notify)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _refuse(ctx: Context, record: RunRecord, message: str) -> RunRecord:
    now: datetime = ctx.clock()
    message = ctx.redactor(message)

    def end(current: RunRecord) -> bool:
        if not current.is_active:
            return False
        current.status, current.ended_at, current.error = "refused", now, message
        return True

    final = ctx.runs.update(record.run_id, end)
    ctx.audit(actor=record.actor, action="rehearsal.refused", result="refused", run_id=record.run_id, reason=message)
    return final


REHEARSAL_QUEUE = "validation"  # never ahead of a real rollback on the `rollback` queue
JOB_MARGIN_SECONDS = 900


def enqueue_rehearsal(ctx: Context, plan: Plan, actor: str, require_checkpoint: bool = True) -> RunRecord:
    """Record a rehearsal of `plan` and queue it for the workers (`RollbotError` without a checkpoint,
    unless told not to: a scheduled one then ends refused, and its level not ready).
    """
    if require_checkpoint:
        plan.require_checkpoint()
    record = create_rehearsal(ctx, plan, actor, queued_for_workers=True)
    ctx.queue(REHEARSAL_QUEUE).enqueue(
        Task.REHEARSAL, record.run_id, job_id=record.run_id, description=f"rehearsal {plan.phase_name} "
        f"{plan.level_name} by {actor}", job_timeout=int(plan.budget + CLONE_TIMEOUT_SECONDS) + JOB_MARGIN_SECONDS,
        result_ttl=7 * 86400, failure_ttl=30 * 86400,
    )  # fmt: skip
    return record
