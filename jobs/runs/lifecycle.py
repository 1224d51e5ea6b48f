"""Ending runs from outside: cancel requests, and clean-up of runs whose process died."""

from __future__ import annotations

import logging
import socket
from typing import Literal

from redis.exceptions import RedisError
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from jobs.context import Context
from jobs.core.exceptions import RollbotError, RunNotFoundError
from jobs.core.redis_values import text
from jobs.core.task_names import Task
from jobs.host.process import kill_orphaned_group
from jobs.records import locks
from jobs.records.runs import RunRecord
from jobs.runs.notify_queue import enqueue_delivery

logger = logging.getLogger(__name__)

CANCEL_FLAG_TTL_SECONDS = 86400
STRANDED_AFTER_SECONDS = 300  # a terminal-started run still queued after this never started


def kill_step_processes(ctx: Context, run_id: str) -> int:
    """SIGKILL what is left of the run's step processes on this host (after its executor died)."""
    try:
        record = ctx.runs.get(run_id)
    except RunNotFoundError:
        return 0
    if record.host != socket.gethostname():
        return 0
    return sum(kill_orphaned_group(step.pgid, run_id) for step in record.steps if step.pgid)


def finalize_abandoned_run(
    ctx: Context, run_id: str, status: Literal["interrupted", "cancelled"], reason: str
) -> RunRecord | None:
    """End a run whose executing process is gone (killed, stopped, crashed): kill leftovers, mark it
    `status`, free the service lock. Does nothing to a run that already ended. Returns the record.
    """
    kill_step_processes(ctx, run_id)
    cancelled_by = ctx.redis.get(ctx.keys.run_cancel(run_id))
    now = ctx.clock()
    ended_here = False

    def end(record: RunRecord) -> bool:
        nonlocal ended_here
        ended_here = record.is_active
        if not ended_here:
            return False
        record.status, record.ended_at, record.error = status, now, reason
        if record.started_at:
            record.elapsed = (now - record.started_at).total_seconds()
        if status == "cancelled" and cancelled_by is not None:
            record.cancelled_by = text(cancelled_by)
        for step in record.steps:
            if step.status == "running":
                step.status, step.detail = status, reason
            elif step.status == "pending":
                step.status = "skipped"
        return True

    try:
        record = ctx.runs.update(run_id, end)
    except RunNotFoundError:
        return None
    if not ended_here:
        return record
    released = locks.release_if_held_by(ctx.redis, ctx.keys, record.service, record.lane, run_id)
    ctx.redis.delete(ctx.keys.run_lease(run_id))
    logger.warning("run %s ended %s: %s (lock released: %s)", run_id, status, reason, released)
    follow_up(ctx, run_id)
    ctx.audit(
        actor=record.cancelled_by or "rollbot",
        action=f"run.{status}",
        result=status,
        run_id=run_id,
        reason=reason,
    )
    return record


def follow_up(ctx: Context, run_id: str) -> None:
    """Hand what a run ended from outside still needs to the workers: its Slack message shows the
    end, and an interrupted rollback pages like a failed one. (Never done in place: this also
    runs in the web process, where no PagerDuty or Slack call belongs.)
    """
    enqueue_delivery(ctx, run_id, delay=0)
    try:
        job_id = ctx.keys.job("escalate", run_id)
        ctx.queue("notify").enqueue(Task.ESCALATE_RUN, run_id, job_id=job_id,
                                               description=f"escalation of {run_id}")  # fmt: skip
    except RedisError as error:
        logger.error("run %s: escalation not queued: %s", run_id, error)


def is_abandoned(ctx: Context, record: RunRecord) -> bool:
    """A run marked running whose lease has expired: the process executing it is gone. Not while
    Redis itself came back less than a lease ago (a restart or failover, not the run, let the
    lease lapse: a live run renews it within a lease).
    """
    if record.status != "running" or ctx.redis.exists(ctx.keys.run_lease(record.run_id)):
        return False
    uptime = ctx.redis.info("server").get("uptime_in_seconds", 0)
    return float(uptime) >= ctx.settings.rollbot_lease_seconds


def stranded_reason(ctx: Context, record: RunRecord) -> str | None:
    """Why a queued run can never start (its job is gone or ended), or None while it still may."""
    if record.status != "queued":
        return None
    if record.job_id is None:  # started from a terminal: it runs at once, unless that terminal died
        age = (ctx.clock() - record.created_at).total_seconds()
        return "the terminal that started it went away before it ran" if age > STRANDED_AFTER_SECONDS else None
    try:
        status = Job.fetch(record.job_id, connection=ctx.redis).get_status()
    except NoSuchJobError:
        return "its job disappeared from the queue"
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED, JobStatus.FINISHED):
        return f"its job ended ({status.value}) without running it"
    return None


def sweep_interrupted(ctx: Context) -> list[str]:
    """End every run that can no longer finish: running without a live lease, or queued with no
    job left to run it. They end `interrupted` and free their lock.
    """
    ended = []
    for record in ctx.runs.active():
        if is_abandoned(ctx, record):
            reason: str | None = "the process running it stopped answering"
        else:
            reason = stranded_reason(ctx, record)
        if reason is not None:
            finalize_abandoned_run(ctx, record.run_id, "interrupted", reason)
            ended.append(record.run_id)
    return ended


def cancel_run(ctx: Context, run_id: str, actor: str) -> RunRecord:
    """Cancel a queued run at once, or stop a running one: its process group dies and the run ends
    `cancelled`. `RollbotError` when the run already ended.
    """
    record = ctx.runs.get(run_id)
    if not record.is_active:
        raise RollbotError(f"Run `{run_id}` already ended ({record.status}); nothing to cancel.")
    ctx.redis.set(ctx.keys.run_cancel(run_id), actor, ex=CANCEL_FLAG_TTL_SECONDS)
    now = ctx.clock()

    def cancel_if_queued(current: RunRecord) -> bool:
        if current.status != "queued":
            return False
        current.status, current.ended_at, current.cancelled_by = "cancelled", now, actor
        current.steps = [step.model_copy(update={"status": "skipped"}) for step in current.steps]
        return True

    record = ctx.runs.update(run_id, cancel_if_queued)
    if record.status == "cancelled":
        _cancel_job(ctx, record)
        ctx.audit(actor=actor, action="run.cancel", result="cancelled", run_id=run_id)
        return record
    if is_abandoned(ctx, record):  # nobody is left to hear the request: end it here
        return finalize_abandoned_run(ctx, run_id, "cancelled", "cancelled on request") or record
    if record.job_id and not record.rehearsal:  # a rehearsal stops through its lease: its clone is removed
        try:
            send_stop_job_command(ctx.redis, record.job_id)
        except (InvalidJobOperation, NoSuchJobError):
            logger.info("run %s: job not executing; the run's lease will see the cancel request", run_id)
    ctx.audit(actor=actor, action="run.cancel", result="requested", run_id=run_id)
    return record


def _cancel_job(ctx: Context, record: RunRecord) -> None:
    if not record.job_id:
        return
    try:
        Job.fetch(record.job_id, connection=ctx.redis).cancel()
    except (NoSuchJobError, InvalidJobOperation, RedisError) as error:
        logger.info("run %s: job %s not cancelled in RQ (%s); the run itself is", record.run_id, record.job_id, error)
