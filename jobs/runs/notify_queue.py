"""Handing a run's Slack work to the `notify` queue: its message's next update and its incident
report. Flows (cancel, sweeps, escalation, checklist clicks) ask for these here and never import
the Slack code itself: a `notify` worker does the posting, retried with backoff.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Retry

from jobs.context import Context
from jobs.core.task_names import Task
from jobs.records.runs import RunRecord

logger = logging.getLogger(__name__)

DELIVERY_DELAY = timedelta(seconds=2)  # lets the run's own process exit first
DELIVERY_RETRY = Retry(max=12, interval=[2, 5, 10, 30, 60, 120, 300, 600, 600, 600, 600, 600])
REPORT_DELAY = timedelta(seconds=3)  # the run's own process posts its final message first


def enqueue_delivery(ctx: Context, run_id: str, delay: float | None = None) -> None:
    """Queue a retried job that syncs the run's message (after `delay` seconds, default 2; 0: now)."""
    queue = ctx.queue("notify")
    options: dict[str, Any] = {"job_id": ctx.keys.job("notify", run_id), "retry": DELIVERY_RETRY,
                               "description": f"deliver the Slack message of {run_id}"}  # fmt: skip
    try:
        if delay == 0:
            queue.enqueue(Task.DELIVER_RUN_MESSAGE, run_id, **options)
        else:
            wait = timedelta(seconds=delay) if delay is not None else DELIVERY_DELAY
            queue.enqueue_in(wait, Task.DELIVER_RUN_MESSAGE, run_id, **options)
        logger.info("run %s: Slack message handed to the notify queue for delivery", run_id)
    except RedisError as error:
        logger.error("run %s: Slack message not delivered and not queued: %s", run_id, error)


def schedule_report(ctx: Context, record: RunRecord) -> None:
    """A rollback that ran on the workers ended: have a `notify` worker post its report in the run
    message's thread shortly (retried with backoff). Never raises: the report must not touch the run.
    Runs started from a terminal have no Slack message; `rollbot report` prints theirs.
    """
    if record.kind != "rollback" or not record.job_id:
        return
    try:
        ctx.queue("notify").enqueue_in(
            REPORT_DELAY,
            Task.POST_INCIDENT_REPORT,
            record.run_id,
            job_id=ctx.keys.job("report", record.run_id),
            retry=DELIVERY_RETRY,
            description=f"incident report of {record.run_id}",
        )
    except RedisError as error:
        logger.error("run %s: incident report not queued (`rollbot report %s` prints it): %s",
                     record.run_id, record.run_id, error)  # fmt: skip
