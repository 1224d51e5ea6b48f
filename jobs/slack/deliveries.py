"""Slack work that outlasts RQ's retries is delivered when Slack answers again, however long it
was down, within `ROLLBOT_SLACK_RETENTION` (7 days by default).

Slack deliveries (run messages, alert, approval and incident cards, incident reports) are RQ jobs
on the `notify` queue, retried with backoff for up to about an hour. A job whose retries ran out
stays in that queue's failed-job registry (a Redis sorted set per namespace): that is the list of
undelivered Slack work. The *redelivery* chain looks at it every
`ROLLBOT_SLACK_REDELIVERY_SECONDS`; once Slack answers `auth.test` again, it queues each undelivered
message or card once more (its newest job: older ones would send the same state), and they say
they are late (a thread note). Work older than the retention is given up: logged and audited.
The chain starts when a delivery job's last retry fails, and keeps going from then on.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs import chains
from jobs.context import Context
from jobs.core.task_names import Task

logger = logging.getLogger(__name__)

SLACK_TASKS = frozenset({
    Task.DELIVER_RUN_MESSAGE, Task.SYNC_ALERT_CARD, Task.SYNC_APPROVAL_CARD,
    Task.POST_INCIDENT_REPORT, Task.HANDLE_PAGERDUTY_WEBHOOK,
})  # fmt: skip
CHAIN = chains.Chain("slack-redelivery", Task.REDELIVER_SLACK, "deliver Slack work that waited out an outage")
JOB_TIMEOUT = 300
MAX_BACKOFF_SECONDS = 3600.0
_SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)


def late_note(since: datetime, now: datetime, what: str) -> str:
    """The thread note of a delivery that is late: since when Slack could not be reached."""
    shown = f"{since:%H:%M:%S} UTC" if now - since < timedelta(hours=20) else f"{since:%Y-%m-%d %H:%M} UTC"
    return f"⚠️ Slack could not be reached from {shown} until now: {what} arrived late."


def note_failure(ctx: Context) -> None:
    """A Slack delivery just failed. When it was its job's last retry, make sure the redelivery chain
    runs (it picks the job up from the failed-job registry). Never raises.
    """
    job = get_current_job()
    if job is None or job.retries_left:
        return  # not in a job, or RQ retries it
    try:
        ensure_chain(ctx)
    except RedisError as error:
        logger.error("Slack redelivery not started (Redis): %s", error)


def ensure_chain(ctx: Context) -> bool:
    """Start the redelivery chain unless it is running; True if started."""
    return chains.ensure(ctx, CHAIN, ctx.settings.rollbot_slack_redelivery_seconds, JOB_TIMEOUT)


def run_chain(ctx: Context, client: WebClient, name: str, generation: str) -> str:
    """One link of the chain: queue the next one, then redeliver what waits."""
    if not chains.is_current(ctx, name, generation):
        return "superseded"
    interval = ctx.settings.rollbot_slack_redelivery_seconds
    chains.schedule(ctx, CHAIN, generation, interval, interval, JOB_TIMEOUT)
    return redeliver(ctx, client)


def undelivered(ctx: Context) -> list[Job]:
    """Slack delivery jobs whose retries ran out (still failed), oldest first."""
    registry = FailedJobRegistry(queue=ctx.queue("notify"))
    found = Job.fetch_many(registry.get_job_ids(), connection=ctx.redis)
    jobs = [job for job in found if job is not None and job.func_name in SLACK_TASKS]
    return sorted(jobs, key=lambda job: job.created_at)


def redeliver(ctx: Context, client: WebClient) -> str:
    """Give up what is older than the retention; keep the rest; queue it again once Slack answers."""
    registry = FailedJobRegistry(queue=ctx.queue("notify"))
    now = ctx.clock()
    retention = timedelta(seconds=ctx.settings.rollbot_slack_retention)
    waiting: dict[tuple[str, str], Job] = {}  # the newest job per message or card
    for job in undelivered(ctx):
        if job.get_status() != JobStatus.FAILED:
            registry.remove(job)  # queued again by its own code meanwhile
            continue
        if job.created_at + retention < now:
            _give_up(ctx, registry, job)
            continue
        subject = (str(job.func_name), json.dumps(job.args, sort_keys=True, default=str))
        if (older := waiting.get(subject)) is not None:
            registry.remove(older, delete_job=True)  # it would deliver the same state
        waiting[subject] = job
        keep = (job.created_at + retention - now).total_seconds()
        ctx.redis.zadd(registry.key, {job.id: now.timestamp() + keep})  # kept for the whole retention
        ctx.redis.expire(job.key, int(keep) + 1)
    if not waiting:
        return "nothing undelivered"
    try:
        client.auth_test()
    except _SLACK_ERRORS as error:
        logger.info("Slack still unreachable (%s): %d deliveries wait", error, len(waiting))
        return f"Slack still unreachable; {len(waiting)} waiting"
    queued = 0
    for job in waiting.values():
        if not _due(job, now, ctx.settings.rollbot_slack_redelivery_seconds):
            continue
        job.meta["redeliveries"] = int(job.meta.get("redeliveries", 0)) + 1
        job.save_meta()  # type: ignore[no-untyped-call]
        try:
            registry.requeue(job)
        except InvalidJobOperation:
            continue  # another worker's link took it
        queued += 1
    if queued:
        logger.warning("Slack answers: %d undelivered Slack deliveries queued again", queued)
    return f"{queued} queued again"


def _due(job: Job, now: datetime, interval: float) -> bool:
    """Whether a waiting job is due again: at once after an outage; one that failed again after it
    was queued again (for another reason than Slack, say) waits twice as long each time, up to an hour.
    """
    tries = int(job.meta.get("redeliveries", 0))
    if tries == 0:
        return True
    wait = min(interval * 2 ** min(tries, 12), MAX_BACKOFF_SECONDS)
    return now >= (job.ended_at or job.created_at) + timedelta(seconds=wait)


def _give_up(ctx: Context, registry: FailedJobRegistry, job: Job) -> None:
    logger.error("giving up on Slack delivery %s (%s): undelivered for longer than ROLLBOT_SLACK_RETENTION",
                 job.id, job.description)  # fmt: skip
    ctx.audit(actor="rollbot", action="slack.deliver", result="given up", job=job.func_name, args=list(job.args),
              since=job.created_at.isoformat())  # fmt: skip
    registry.remove(job, delete_job=True)
