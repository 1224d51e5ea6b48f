"""Slack down for longer than the deliveries' RQ retries: what could not be delivered is delivered
once Slack answers again, saying it is late; what is older than the retention is given up.
Real Redis, real forked workers, the Slack stand-in answering 500.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Retry
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from jobs.alerts import response as alert_response
from jobs.context import Context
from jobs.core.task_names import Task
from jobs.factory import get_queue, get_slack_client
from jobs.records import audit
from jobs.records.alerts import Alert
from jobs.records.runs import utcnow
from jobs.runs import notify_queue
from jobs.runs.enqueue import create_run
from jobs.runs.notify_queue import enqueue_delivery
from jobs.slack import deliveries
from jobs.slack.notifier import RunMessage
from tests.conftest import run_worker, start_worker, stop_worker, wait_for, write_runbook
from tests.standins.slack import Failure, SlackStandIn
from tests.support.runs import rollback_plan
from tests.support.slack import channel_posts

SHORT_RETRY = Retry(max=1, interval=[1])  # stands for the hour of retries the deliveries have


def slack_down(slack: SlackStandIn) -> None:
    slack.fail(Failure(count=0, status=500, until=time.monotonic() + 3600))


def failed_jobs(ctx: Context) -> list[str]:
    return FailedJobRegistry(queue=get_queue("notify", ctx.redis)).get_job_ids()


def pending(ctx: Context) -> int:
    """Notify jobs queued, scheduled (a retry) or running."""
    queue = get_queue("notify", ctx.redis)
    return queue.count + ScheduledJobRegistry(queue=queue).count + StartedJobRegistry(queue=queue).count


def late_notes(slack: SlackStandIn) -> list[str]:
    return [str(c.params["text"]) for c in slack.calls_to("chat.postMessage")
            if c.params.get("thread_ts") and "arrived late" in str(c.params["text"])]  # fmt: skip


def test_a_run_message_is_delivered_after_an_outage_longer_than_its_retries(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify_queue, "DELIVERY_RETRY", SHORT_RETRY)
    record = create_run(ctx, rollback_plan(ctx, env, repo, ""), "U0ONCALL")
    assert RunMessage(ctx, get_slack_client(), record.run_id).sync()  # posted while Slack was up
    slack_down(slack)
    ctx.runs.update(record.run_id, lambda run: setattr(run, "status", "cancelled"))
    enqueue_delivery(ctx, record.run_id, delay=0)  # the update to deliver

    worker = start_worker(env, ROLLBOT_SLACK_REDELIVERY_SECONDS="1")
    try:
        job_id = ctx.keys.job("notify", record.run_id)
        wait_for(lambda: job_id in failed_jobs(ctx), timeout=60, message="the delivery's retries to run out")
        # Slack stays down past the retries: the redelivery keeps asking it, and delivers nothing.
        wait_for(lambda: len(slack.calls_to("auth.test", ok_only=False)) >= 2, timeout=60, message="probes")
        assert slack.calls_to("chat.update") == []

        slack.failures.clear()  # Slack answers again
        wait_for(lambda: late_notes(slack), timeout=60, message="the late delivery")
    finally:
        stop_worker(worker)

    updates = slack.calls_to("chat.update")
    assert updates and updates[-1].params["metadata"]["event_payload"]["status"] == "cancelled"
    assert len(channel_posts(slack)) == 1  # updated in place, never posted twice
    (note,) = late_notes(slack)
    assert note.startswith("⚠️ Slack could not be reached from ") and "the updates of this message" in note
    assert job_id not in failed_jobs(ctx)


def test_an_alert_card_is_posted_once_after_the_outage_and_says_it_is_late(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_response, "CARD_RETRY", SHORT_RETRY)
    write_runbook(Path(env["RUNBOOK"]), repo)
    now = utcnow()
    ctx.alerts.create(Alert(alert_id="al-1", origin="monitor", source="golden_path", service="sandbox",
                            fingerprint="f1", metric="golden_path.success_rate", value=0.5, threshold="< 0.9",
                            first_seen=now, last_seen=now))  # fmt: skip
    slack_down(slack)
    for _ in range(3):  # three changes while Slack is down: three update jobs of one card
        alert_response.schedule_card_update(ctx, "al-1", immediate=True)

    worker = start_worker(env, ROLLBOT_SLACK_REDELIVERY_SECONDS="1")
    try:
        wait_for(lambda: failed_jobs(ctx) and not pending(ctx), timeout=90, message="the card's retries to run out")
        probes = len(slack.calls_to("auth.test", ok_only=False))
        wait_for(lambda: len(slack.calls_to("auth.test", ok_only=False)) > probes, timeout=60, message="a probe")
        assert len(failed_jobs(ctx)) == 1  # the newest of the three: the others would send the same card
        slack.failures.clear()
        wait_for(lambda: late_notes(slack), timeout=60, message="the late card")
        time.sleep(1.5)  # anything else that was going to reach Slack has by now
    finally:
        stop_worker(worker)

    (card,) = channel_posts(slack, "rollbot_alert")  # one post
    assert slack.calls_to("chat.update") == []  # the older jobs were dropped
    (note,) = late_notes(slack)
    assert note.endswith("this card's updates arrived late.") and card.params.get("thread_ts") is None
    assert failed_jobs(ctx) == []
    assert ctx.redis.get(f"{ctx.keys.namespace}:card-late:alert:al-1") is None


def test_undelivered_work_waits_while_slack_is_down_and_is_given_up_after_the_retention(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    record = create_run(ctx, rollback_plan(ctx, env, repo, ""), "U0ONCALL")
    slack_down(slack)
    job = get_queue("notify").enqueue(
        Task.DELIVER_RUN_MESSAGE, record.run_id, job_id=ctx.keys.job("notify", record.run_id)
    )  # no retries left
    worker = start_worker(env, ROLLBOT_SLACK_REDELIVERY_SECONDS="600")
    try:
        wait_for(lambda: job.id in failed_jobs(ctx), timeout=60, message="the delivery to fail")
    finally:
        stop_worker(worker)

    # Its last failure started the redelivery chain; while Slack is down, it waits, kept for the retention.
    assert ctx.redis.hget(ctx.keys.monitor_chain(deliveries.CHAIN.name), "generation") is not None
    assert deliveries.redeliver(ctx, get_slack_client()) == "Slack still unreachable; 1 waiting"
    assert ctx.redis.ttl(job.key) > 6 * 86400
    assert job.id in failed_jobs(ctx)

    eight_days_on = dataclasses.replace(ctx, clock=lambda: utcnow() + timedelta(days=8))
    assert deliveries.redeliver(eight_days_on, get_slack_client()) == "nothing undelivered"
    assert failed_jobs(ctx) == [] and not ctx.redis.exists(job.key)
    given_up = [e for e in audit.entries(ctx.redis, ctx.keys) if e.get("action") == "slack.deliver"]
    assert len(given_up) == 1 and given_up[0]["result"] == "given up"


def test_work_that_fails_again_once_slack_answers_backs_off(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    record = create_run(ctx, rollback_plan(ctx, env, repo, ""), "U0ONCALL")
    # Its report cannot be posted while the run has no Slack message: not Slack's fault.
    job = get_queue("notify").enqueue(
        Task.POST_INCIDENT_REPORT, record.run_id, job_id=ctx.keys.job("report", record.run_id)
    )
    run_worker(env, "--queues", "notify")
    assert job.id in failed_jobs(ctx)

    assert deliveries.redeliver(ctx, get_slack_client()) == "1 queued again"
    run_worker(env, "--queues", "notify")
    assert job.id in failed_jobs(ctx)
    assert deliveries.redeliver(ctx, get_slack_client()) == "0 queued again"  # it waits twice the interval now
    two_minutes_on = dataclasses.replace(ctx, clock=lambda: utcnow() + timedelta(seconds=121))
    assert deliveries.redeliver(two_minutes_on, get_slack_client()) == "1 queued again"
