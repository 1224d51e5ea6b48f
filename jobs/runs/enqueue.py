"""Turning a plan into a queued run: the record first, then the RQ job that executes it."""

from __future__ import annotations

import contextlib
import getpass
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.client import Pipeline
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from jobs.context import Context
from jobs.core.exceptions import RunInProgressError
from jobs.core.redis_values import optional_text
from jobs.core.task_names import Task
from jobs.records import audit
from jobs.records.runs import LANE_FOR_KIND, QUEUE_FOR_KIND, RunRecord, RunTarget, new_run_id
from jobs.runs.lifecycle import finalize_abandoned_run, is_abandoned, stranded_reason
from jobs.runs.plan import Plan

logger = logging.getLogger(__name__)

JOB_TIMEOUT_MARGIN_SECONDS = 300  # RQ's own hard stop, well after the budget ends the run
JOB_FUNCTIONS = {
    "rollback": Task.ROLLBACK,
    "preflight": Task.PREFLIGHT,
    "validation": Task.VALIDATION,
}


def new_record(
    plan: Plan, actor: str, now: datetime, run_id: str | None = None, queued_for_workers: bool = False, **fields: Any
) -> RunRecord:
    """A queued record for `plan` (the checkpoint it shows pinned), not stored anywhere yet;
    `queued_for_workers` gives it an RQ job id (= run id).
    """
    run_id = run_id or new_run_id(plan.kind, now)
    values: dict[str, Any] = {
        "checkpoint_tag": plan.checkpoint.tag if plan.checkpoint else None,
        "checkpoint_commit": plan.checkpoint.commit if plan.checkpoint else None,
        "incident_key": f"rollbot-{plan.runbook.service}-{run_id}",
        "job_id": run_id if queued_for_workers else None,
    }
    return RunRecord(
        run_id=run_id,
        kind=plan.kind,
        service=plan.runbook.service,
        phase=plan.phase_name,
        level=plan.level_name,
        actor=actor,
        created_at=now,
        budget=plan.budget,
        **(values | fields),
    )


def cli_actor() -> str:
    """`cli:<os user>`, the actor of runs started from a terminal."""
    return f"cli:{getpass.getuser()}"


@dataclass(frozen=True)
class Origin:
    """What a run answers: the run it retries or escalates, or an alert (with the alert's incident)."""

    parent: RunRecord | None = None
    alert_id: str | None = None
    incident_key: str | None = None
    run_id: str | None = None  # reserved earlier (a two-person approval names the run it starts)
    approved_by: str | None = None  # the second person, under the two-person rule
    # The checkpoint the clicked message showed (Retry, Escalate, an alert card's Roll back): the run
    # is recorded with it, so the runner refuses it if the phase's checkpoint has moved since.
    checkpoint_commit: str | None = None
    checkpoint_tag: str | None = None


def create_run(
    ctx: Context, plan: Plan, actor: str, queued_for_workers: bool = False, origin: Origin = Origin()
) -> RunRecord:
    """Store a new queued run record for `plan` (and audit the request); `queued_for_workers` gives
    it an RQ job id (= run id). A retry or escalation names its parent: it shares the parent's
    PagerDuty incident (and alert). The record carries the plan's checkpoint, or the one `origin`
    pins (what the person was shown).
    """
    record = _new_run(ctx, plan, actor, queued_for_workers, origin)
    with ctx.redis.pipeline() as pipe:
        _store_run(ctx, pipe, record, plan)
        pipe.execute()
    return record


def _new_run(ctx: Context, plan: Plan, actor: str, queued_for_workers: bool, origin: Origin) -> RunRecord:
    """The queued record `create_run` stores (not stored yet)."""
    parent = origin.parent
    pinned = {}
    if origin.checkpoint_commit and (plan.checkpoint is None or origin.checkpoint_commit != plan.checkpoint.commit):
        pinned = {"checkpoint_tag": origin.checkpoint_tag, "checkpoint_commit": origin.checkpoint_commit}
    record = new_record(
        plan,
        actor,
        ctx.clock(),
        run_id=origin.run_id,
        queued_for_workers=queued_for_workers,
        parent_run_id=parent.run_id if parent else None,
        alert_id=origin.alert_id or (parent.alert_id if parent else None),
        approved_by=origin.approved_by,
        **pinned,
    )
    if incident_key := origin.incident_key or (parent.incident_key if parent else None):
        record.incident_key = incident_key
    return record


def _store_run(ctx: Context, pipe: Pipeline, record: RunRecord, plan: Plan) -> None:
    """Queue on `pipe` the new record (indexed) and the audit entry of its request."""
    ctx.runs.create(record, pipe)
    audit.record(pipe, ctx.keys, actor=record.actor, action=f"{plan.kind}.request", result="queued",
                 run_id=record.run_id, args={"phase": plan.phase_name, "level": plan.level_name},
                 retention_seconds=ctx.settings.rollbot_audit_retention, redactor=ctx.redactor)  # fmt: skip


def refuse_if_busy(ctx: Context, plan: Plan, actor: str, active: Iterable[bytes | str] | None = None) -> None:
    """`RunInProgressError` naming the run when the service already has a queued or running one in
    the same lane (rollbacks and preflights; validations apart). A run that can never finish (its
    process died: lease expired) is ended `interrupted` here and does not count. `active`: the set
    of active runs as just read (else it is read).
    """
    lane = LANE_FOR_KIND[plan.kind]
    busy = [
        run
        for run in ctx.runs.active(active)
        if run.service == plan.runbook.service and run.lane == lane and not _ended_as_dead(ctx, run)
    ]
    if busy:
        other = busy[0]
        what = f"{other.kind} {other.phase}" + (f" {other.level}" if other.level else "")
        ctx.audit(
            actor=actor,
            action=f"{plan.kind}.request",
            result="refused",
            holder=other.run_id,
            phase=plan.phase_name,
            level=plan.level_name,
        )
        raise RunInProgressError(
            f"{plan.runbook.service} already has run `{other.run_id}` "
            f"({what} by {other.actor}, {other.status}). "
            f"Wait for it, or cancel it with `rollbot cancel {other.run_id}`."
        )


def _ended_as_dead(ctx: Context, run: RunRecord) -> bool:
    """End `run` `interrupted` when it can never finish: running while its lease expired (the
    worker or terminal executing it died), or started from a terminal that went away before it
    ran. True when it ended (it no longer makes the service busy).
    """
    if is_abandoned(ctx, run):
        reason: str | None = "the process running it stopped answering"
    elif run.status == "queued" and run.job_id is None:  # (a queued job's fate is for the sweep to judge)
        reason = stranded_reason(ctx, run)
    else:
        return False
    if reason is None:
        return False
    ended = finalize_abandoned_run(ctx, run.run_id, "interrupted", reason)
    logger.warning("run %s no longer holds up %s: %s", run.run_id, run.service, reason)
    return ended is None or not ended.is_active


def enqueue_job(ctx: Context, record: RunRecord) -> RunRecord:
    """Put the RQ job for a queued record on its queue; a failure to enqueue fails the run loudly."""
    try:
        return _enqueue_job(ctx, record)
    except RedisError:
        now = ctx.clock()

        def failed(current: RunRecord) -> None:
            current.status, current.ended_at, current.error = "failed", now, "could not be queued (Redis error)"

        with contextlib.suppress(RedisError):
            ctx.runs.update(record.run_id, failed)
        raise


def _enqueue_job(ctx: Context, record: RunRecord, pipe: Pipeline | None = None) -> RunRecord:
    """Put the record's job on its queue (queued on `pipe` when given: pushed when it executes)."""
    queue = ctx.queue(QUEUE_FOR_KIND[record.kind])
    description = f"{record.kind} {record.phase} {record.level or ''} by {record.actor}".replace("  ", " ")
    queue.enqueue(
        JOB_FUNCTIONS[record.kind],
        record.run_id,
        job_id=record.job_id,
        description=description,
        job_timeout=int(record.budget) + JOB_TIMEOUT_MARGIN_SECONDS,
        result_ttl=7 * 86400,
        failure_ttl=30 * 86400,
        meta=RunTarget.of(record).meta(),
        pipeline=pipe,
    )
    return record


def enqueue_run(ctx: Context, plan: Plan, actor: str, origin: Origin = Origin()) -> RunRecord:
    """Check the plan can run (checkpoint present, service not busy), record it and enqueue it.
    The busy check and the record are one step (under a short lock): two requests never both pass.
    The record, its audit entry and its job are one transaction, the first thing after the check.
    """
    record = _enqueue(ctx, plan, actor, origin, None)
    if record is None:  # (only a request can have been claimed before)
        raise RunInProgressError(f"{plan.runbook.service} is busy queuing another run; try again in a moment.")
    return record


def _enqueue(ctx: Context, plan: Plan, actor: str, origin: Origin, request: str | None) -> RunRecord | None:
    """`enqueue_run`; with `request`, that key is claimed in the guard's round trip (None when it
    was claimed before: nothing is done) and set to the run's id in the record's transaction.
    """
    plan.require_checkpoint()
    guard = Lock(ctx.redis, ctx.keys.enqueue_guard(plan.runbook.service), timeout=10, blocking_timeout=5)
    token = uuid.uuid4().hex
    with ctx.redis.pipeline(transaction=False) as pipe:  # one round trip: the request, the guard, the active runs
        if request is not None:
            pipe.set(request, "", nx=True, ex=REQUEST_TTL_SECONDS)
        pipe.set(guard.name, token, nx=True, px=int((guard.timeout or 10) * 1000))
        pipe.smembers(ctx.keys.active_runs)
        *claimed, guarded, active = pipe.execute()
    if claimed and not claimed[0]:
        if guarded:
            with contextlib.suppress(LockError):
                guard.do_release(token)
        return None
    try:
        if guarded:
            guard.local.token = token
        elif guard.acquire():
            active = None  # (read before the guard was ours: read again)
        else:
            raise RunInProgressError(f"{plan.runbook.service} is busy queuing another run; try again in a moment.")
        try:
            refuse_if_busy(ctx, plan, actor, active)
            record = _new_run(ctx, plan, actor, queued_for_workers=True, origin=origin)
            with ctx.redis.pipeline() as pipe:
                pipe.multi()  # (RQ queues its job's commands into an open transaction)
                _store_run(ctx, pipe, record, plan)
                _enqueue_job(ctx, record, pipe)
                if request is not None:
                    pipe.set(request, record.run_id, ex=REQUEST_TTL_SECONDS)
                pipe.execute()
        finally:
            with contextlib.suppress(LockError):
                guard.release()
    except BaseException:
        if request is not None:
            ctx.redis.delete(request)
        raise
    return record


REQUEST_TTL_SECONDS = 86400


def enqueue_once(
    ctx: Context, plan: Plan, actor: str, request: str, origin: Origin = Origin()
) -> tuple[RunRecord, bool]:
    """Enqueue `plan` unless request `request` (a confirm token, `retry:<run>`…) was already acted
    upon: 20 concurrent clicks, or a click and Slack's retry, start exactly one run. Returns the run
    and whether this call created it. A refused request may be tried again.
    """
    key = ctx.keys.request(request)
    record = _enqueue(ctx, plan, actor, origin, key)
    if record is not None:
        return record, True
    earlier = optional_text(ctx.redis.get(key))
    if earlier:
        return ctx.runs.get(earlier), False
    raise RunInProgressError("This was just confirmed; the run is being queued.")
