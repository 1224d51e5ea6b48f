"""RQ job functions: plain, importable, JSON-safe arguments (a run id); connections from the factory."""

from __future__ import annotations

import logging

from rq import get_current_job

from jobs.factory import get_context, get_slack_client
from jobs.notifier import DeliveryFailed, RunMessage, RunNotifier
from jobs.runner import execute_queued_run

logger = logging.getLogger(__name__)


def _execute(run_id: str) -> str:
    ctx = get_context()
    with RunNotifier(RunMessage(ctx, get_slack_client(), run_id)) as notifier:
        return execute_queued_run(ctx, run_id, [notifier.changed]).status


def rollback_job(run_id: str) -> str:
    """Execute a queued rollback run, its progress kept current in the alert channel."""
    return _execute(run_id)


def preflight_job(run_id: str) -> str:
    """Execute a queued preflight run (checkpoint + checks)."""
    return _execute(run_id)


def validation_job(run_id: str) -> str:
    """Execute a queued validation run."""
    return _execute(run_id)


def deliver_run_message(run_id: str) -> str:
    """Bring the run's Slack message up to date; raises (so RQ retries with backoff) while Slack
    cannot be reached, and logs with the run id when it gives up.
    """
    if RunMessage(get_context(), get_slack_client(), run_id).sync():
        return "delivered"
    job = get_current_job()
    if job is not None and not job.retries_left:
        logger.error("run %s: giving up on Slack; its final state was never delivered", run_id)
    raise DeliveryFailed(f"Slack message of run {run_id} not delivered yet")
