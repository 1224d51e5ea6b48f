"""Slack down for the whole run: the rollback is not delayed, and the channel catches up later."""

from __future__ import annotations

import time
from pathlib import Path

from rq.registry import ScheduledJobRegistry

from jobs.context import Context
from jobs.core.redis_values import text
from jobs.factory import get_queue, get_slack_client
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import enqueue_run
from jobs.runs.notify_queue import DELIVERY_DELAY
from jobs.runs.plan import select, with_checkpoint
from jobs.slack.notifier import RunMessage
from tests.conftest import git, run_worker
from tests.standins.slack import Failure, SlackStandIn
from tests.support.runs import ready_repo, rollback_plan
from tests.support.scheduled import make_due
from tests.support.slack import channel_posts, final_state


def test_final_state_is_delivered_once_slack_answers_again(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    good, _ = ready_repo(ctx, env, repo, steps="- name: deploy\n  run: [sh, -c, 'echo boom; exit 1']\n")
    runbook = load_runbook(Path(env["RUNBOOK"]))
    plan = with_checkpoint(select(runbook, "rollback", "phase2"), ctx.checkpoints.get("sandbox", "phase2"))
    record = enqueue_run(ctx, plan, "U0ONCALL")
    slack.fail(Failure(count=0, status=500, until=time.monotonic() + 3600))

    started = time.monotonic()
    run_worker(env, ROLLBOT_SLACK_FLUSH_SECONDS="1")
    assert time.monotonic() - started < 60

    final = ctx.runs.get(record.run_id)
    assert final.status == "failed" and git(repo, "rev-parse", "HEAD") == good  # the reset ran; the deploy failed
    assert not [c for c in slack.calls if c.status == 200]  # nothing got through
    notify = get_queue("notify")
    scheduled = ScheduledJobRegistry(queue=notify)
    assert ctx.keys.job("notify", record.run_id) in scheduled.get_job_ids()  # delivered later, retried with backoff

    slack.failures.clear()  # Slack is back
    assert final.ended_at is not None  # the delivery is due 2 s after the run ended (made due now)
    make_due(ctx, "notify", ctx.keys.job("notify", record.run_id), after=final.ended_at, delay=DELIVERY_DELAY)
    run_worker(env)

    assert final_state(slack)["status"] == "failed"
    assert len(channel_posts(slack)) == 1
    replies = [c.params["text"] for c in slack.calls_to("chat.postMessage") if "thread_ts" in c.params]
    assert any("boom" in r for r in replies)
    assert any("Slack could not be reached from" in r and "arrived late" in r for r in replies)
    uploads = [c.params["content"] for c in slack.calls_to("upload")]
    assert len(uploads) == 2 and sum(u.startswith("# Incident report") for u in uploads) == 1  # the log, the report

    # Syncing again changes nothing: no second post, reply or upload.
    calls = len(slack.calls)
    assert RunMessage(ctx, get_slack_client(), record.run_id).sync()
    assert [c.method for c in slack.calls[calls:]] == ["chat.update"]


def test_deleted_run_message_is_posted_again(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, ""), "U0ONCALL")
    message = RunMessage(ctx, get_slack_client(), record.run_id)
    assert message.sync()
    first_ts = ctx.redis.hget(ctx.keys.run_slack(record.run_id), "ts")
    slack.fail(Failure(count=1, status=200, error="message_not_found", methods=("chat.update",)))
    assert message.sync()
    assert len(channel_posts(slack)) == 2
    assert ctx.redis.hget(ctx.keys.run_slack(record.run_id), "ts") != first_ts


def test_a_late_second_post_of_the_run_message_is_taken_back(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, ""), "U0ONCALL")
    first = RunMessage(ctx, get_slack_client(), record.run_id)
    assert first.sync()
    winner = text(ctx.redis.hget(ctx.keys.run_slack(record.run_id), "ts"))
    # An abandoned sync whose post was still in flight lands afterwards: it keeps the first one.
    late = RunMessage(ctx, get_slack_client(), record.run_id)
    channel, ts = late._claim_post("C0ALERTS", "1799999999.000100")
    assert (channel, ts) == ("C0ALERTS", winner)
    deleted = slack.calls_to("chat.delete")
    assert [(c.params["channel"], c.params["ts"]) for c in deleted] == [("C0ALERTS", "1799999999.000100")]
