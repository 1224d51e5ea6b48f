"""Scheduled RQ jobs in tests: check when a job is due, then make it due now instead of sleeping
through its delay (a burst worker's scheduler then queues it at once).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq.job import Job
from rq.registry import ScheduledJobRegistry

from jobs.context import Context
from jobs.factory import get_queue


def scheduled_ids(ctx: Context, queue: str) -> list[str]:
    """Ids of the jobs scheduled on rollbot's queue `queue`."""
    return ScheduledJobRegistry(queue=get_queue(queue, ctx.redis)).get_job_ids()


def make_due(ctx: Context, queue: str, job_id: str, after: datetime, delay: timedelta) -> None:
    """Check that job `job_id` is scheduled on `queue` for `delay` after `after` (RQ keeps whole
    seconds; generous above, for a loaded machine), then make it due now.
    """
    registry = ScheduledJobRegistry(queue=get_queue(queue, ctx.redis))
    assert job_id in registry.get_job_ids(), f"{job_id} is not scheduled on {queue}"
    waits = (registry.get_scheduled_time(job_id) - after).total_seconds()
    assert delay.total_seconds() - 1 <= waits < delay.total_seconds() + 30, f"{job_id} is due {waits:.1f}s after"
    registry.schedule(Job.fetch(job_id, connection=ctx.redis), datetime.now(UTC))
