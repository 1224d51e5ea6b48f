"""`/rollback … --rehearse`, `/rollback readiness` and the usual durations under a plan, over real
HTTP: signed requests to `rollbot web`, real workers, the Slack and PagerDuty stand-ins."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from jobs.context import Context
from jobs.core.ids import ActionId
from tests.conftest import STRANGER, git, run_worker
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import button_value
from tests.standins.slack import SlackStandIn
from tests.support.runs import ready_repo
from tests.support.slack import channel_posts, click, final_state, slash

STEPS = f"""\
- name: Smoke test
  run: [{sys.executable}, -c, "print('smoke ok')"]
  rehearse: run
- name: Emergency staging deployment
  run: [sh, -c, "echo deploying for real"]
"""


def test_rollback_rehearse_posts_a_rehearsal_run_message_and_never_pages(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    _good, bad = ready_repo(ctx, env, repo, steps=STEPS)

    answer = slash(web, slack, "/rollback", "phase2 --rehearse")
    assert "Rehearsing phase2 immediate" in answer["text"]  # no confirm button: it starts at once
    queued = slack.wait_for(lambda calls: any(c.method == "response_url" and "Queued rehearsal" in c.params["text"]
                                              for c in calls))  # fmt: skip
    assert queued
    record = ctx.runs.recent(1)[0]
    assert record.rehearsal and record.actor == "U0ONCALL"

    run_worker(env)

    assert git(repo, "rev-parse", "HEAD") == bad
    assert ctx.runs.get(record.run_id).status == "succeeded"
    posts = channel_posts(slack)
    assert len(posts) == 1 and "Rehearsal: sandbox phase2 immediate" in posts[0].params["text"]
    assert final_state(slack) == {"run_id": record.run_id, "phase": "phase2", "level": "immediate",
                                  "status": "succeeded", "rehearsal": True}  # fmt: skip
    replies = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" in c.params]
    assert any("READY" in c.params["text"] and "skipped" in c.params["text"] for c in replies)
    cards = channel_posts(slack, "rollbot_readiness")
    assert len(cards) == 1 and cards[0].params["metadata"]["event_payload"]["ready"] is True
    time.sleep(0.5)
    assert not pagerduty.events()


def test_rehearse_needs_the_operator_role_and_a_checkpoint(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo, steps=STEPS)
    denied = slash(web, slack, "/rollback", "phase2 --rehearse", user=STRANGER)
    assert "operator" in denied["text"]
    ctx.redis.delete(ctx.keys.checkpoint("sandbox", "phase2"))
    missing = slash(web, slack, "/rollback", "phase2 --rehearse")
    assert "/preflight phase2" in missing["text"]
    assert not [r for r in ctx.runs.recent(5) if r.rehearsal]


def test_the_plan_shows_usual_durations_only_once_there_is_history(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo, steps=STEPS)

    before = json.dumps(slash(web, slack, "/rollback", "phase2")["blocks"], ensure_ascii=False)
    assert "no history yet" in before and "usually" not in before

    answer = slash(web, slack, "/rollback", "phase2")
    click(web, slack, ActionId.ROLLBACK_CONFIRM, button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM))
    slack.wait_for(lambda calls: any(c.method == "response_url" and "Confirmed" in c.params.get("text", "")
                                     for c in calls))  # fmt: skip
    run_worker(env)
    assert ctx.runs.recent(1)[0].status == "succeeded"

    after = json.dumps(slash(web, slack, "/rollback", "phase2")["blocks"], ensure_ascii=False)
    for step in ("git.reset_to_checkpoint", "Smoke test", "Emergency staging deployment"):
        assert f"{step}: usually" in after
    assert "Expected total" in after and "of the 30m budget" in after and "no history yet" not in after


def test_readiness_lists_every_level(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo, steps=STEPS)
    text = slash(web, slack, "/rollback", "readiness")["text"]
    assert "sandbox phase2 immediate: not ready: never rehearsed" in text
    assert "checkpoint" in text and "of 30m" in text


def test_the_run_message_shows_the_expected_finish_and_a_step_past_its_p90(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    steps = "- name: Slow smoke test\n  run: [sleep, '2.5']\n  rehearse: run\n"
    ready_repo(ctx, env, repo, steps=steps)
    for title, seconds in (("git.reset_to_checkpoint", "0.1"), ("Slow smoke test", "0.4")):
        ctx.redis.lpush(ctx.keys.step_durations("sandbox", "phase2", "immediate", title), seconds)

    slash(web, slack, "/rollback", "phase2 --rehearse")
    slack.wait_for(lambda calls: any(c.method == "response_url" and "Queued" in c.params.get("text", "")
                                     for c in calls))  # fmt: skip
    run_worker(env)

    shown = [json.dumps(c.params.get("blocks"), ensure_ascii=False) for c in slack.calls
             if c.method in ("chat.postMessage", "chat.update") and "thread_ts" not in c.params]  # fmt: skip
    assert any("Expected finish: " in text and " UTC" in text for text in shown)
    assert any("step 2 (Slow smoke test) is running past its usual p90" in text for text in shown)
    assert ctx.runs.recent(1)[0].status == "succeeded"
