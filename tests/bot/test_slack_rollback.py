"""/rollback over real HTTP: signed requests to `rollbot web`, a real worker, the Slack stand-in."""

from __future__ import annotations

import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from jobs.context import Context
from jobs.core.ids import ActionId
from jobs.factory import get_queue
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import create_run
from jobs.runs.plan import select
from jobs.runs.runner import execute_run
from tests.conftest import LEAD, ONCALL, STRANGER, git, run_worker, write_runbook
from tests.standins.signed import action_body, button_value, command_body, has_button, signed_post
from tests.standins.slack import Failure, SlackStandIn
from tests.support.runs import preflight, ready_repo
from tests.support.slack import channel_posts, click, final_state, slash


def test_rollback_plan_confirm_worker_and_live_progress(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    good, _bad = ready_repo(ctx, env, repo, steps="- name: Restart staging services\n  run: [sleep, '1.2']\n")
    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None

    started = time.monotonic()
    answer = slash(web, slack, "/rollback", "phase2")
    assert time.monotonic() - started < 3  # generous: an ack is tens of milliseconds
    assert answer["response_type"] == "ephemeral"
    plan = json.dumps(answer["blocks"], ensure_ascii=False)
    for expected in ("Factory Pattern Consolidation", "medium", "immediate", "30m", checkpoint.tag,
                     checkpoint.commit[:12], "Restart staging services"):  # fmt: skip
        assert expected in plan
    confirm = next(
        e for b in answer["blocks"] for e in b.get("elements", []) if e.get("action_id") == "rollback_confirm"
    )
    assert confirm["style"] == "danger" and confirm["confirm"]["style"] == "danger"
    assert has_button(answer["blocks"], ActionId.ROLLBACK_CANCEL)
    assert ctx.runs.recent() and ctx.runs.recent()[0].kind == "preflight"  # nothing queued by the plan

    click(web, slack, ActionId.ROLLBACK_CONFIRM, button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM))
    confirmed = slack.wait_for(lambda calls: any(c.method == "response_url" for c in calls))
    reply = next(c for c in confirmed if c.method == "response_url").params
    assert reply["replace_original"] is True and "Confirmed by <@U0ONCALL>" in reply["text"]
    record = ctx.runs.recent(1)[0]
    assert record.kind == "rollback" and record.actor == ONCALL and record.status == "queued"

    run_worker(env)

    assert git(repo, "rev-parse", "HEAD") == good
    assert ctx.runs.get(record.run_id).status == "succeeded"
    posts = channel_posts(slack)
    assert len(posts) == 1 and posts[0].params["channel"] == "#critical-alerts"
    assert posts[0].params["metadata"]["event_type"] == "rollbot_run"
    updates = slack.calls_to("chat.update")
    assert updates and all(u.params["channel"] == "C0ALERTS" for u in updates)
    assert final_state(slack) == {
        "run_id": record.run_id,
        "phase": "phase2",
        "level": "immediate",
        "status": "succeeded",
    }
    final_text = json.dumps(updates[-1].params["blocks"], ensure_ascii=False)
    assert "Rollback succeeded" in final_text and good[:12] in final_text
    assert "✅ 2. Restart staging services" in final_text
    # Coalesced: never two updates of the message within a second of each other.
    times = [c.at for c in [posts[0], *updates]]
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(times))
    assert not [c for c in slack.calls_to("chat.postMessage") if "thread_ts" in c.params]  # no failure replies
    assert not slack.calls_to("files.completeUploadExternal")


def test_failing_step_gets_thread_reply_log_upload_and_retry_escalate_buttons(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo, phase3=True)
    runbook = load_runbook(path)
    execute_run(ctx, create_run(ctx, select(runbook, "preflight", "phase3"), "cli:test").run_id, runbook)

    answer = slash(web, slack, "/rollback", "phase3")
    click(web, slack, ActionId.ROLLBACK_CONFIRM, button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM))
    slack.wait_for(lambda calls: any(c.method == "response_url" for c in calls))
    run_worker(env)

    record = ctx.runs.recent(1)[0]
    assert record.status == "failed" and record.level == "level1"
    assert final_state(slack)["status"] == "failed"
    replies = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" in c.params]
    assert len(replies) == 1 and "Emergency staging deployment" in replies[0].params["text"]
    assert "deploy failed" in replies[0].params["text"]
    uploads = slack.calls_to("upload")
    assert len(uploads) == 1 and "deploy failed" in uploads[0].params["content"]
    completed = slack.calls_to("files.completeUploadExternal")
    assert completed[0].params["thread_ts"] == channel_posts(slack)[0].params.get(
        "ts", completed[0].params["thread_ts"]
    )
    final_blocks = slack.calls_to("chat.update")[-1].params["blocks"]
    assert "Rollback FAILED" in json.dumps(final_blocks, ensure_ascii=False)
    assert button_value(final_blocks, ActionId.ROLLBACK_RETRY) == record.run_id
    escalate = next(e for b in final_blocks for e in b.get("elements", []) if e.get("action_id") == "rollback_escalate")
    assert escalate["text"]["text"] == "Escalate to level2"

    # Escalate twice (a double click): exactly one level2 run.
    for _ in range(2):
        click(web, slack, ActionId.ROLLBACK_ESCALATE, record.run_id, user=LEAD)
    slack.wait_for(lambda calls: len([c for c in calls if c.method == "response_url"]) >= 3)
    escalated = [r for r in ctx.runs.recent(10) if r.level == "level2"]
    assert len(escalated) == 1 and escalated[0].actor == LEAD
    assert escalated[0].parent_run_id == record.run_id and escalated[0].incident_key == record.incident_key
    run_worker(env)
    assert ctx.runs.get(escalated[0].run_id).status == "succeeded"


def test_slack_rate_limited_then_failing_never_delays_the_rollback(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    good, _ = ready_repo(ctx, env, repo, steps="- name: deploy\n  run: [sleep, '2']\n")
    answer = slash(web, slack, "/rollback", "phase2")
    click(web, slack, ActionId.ROLLBACK_CONFIRM, button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM))
    slack.wait_for(lambda calls: any(c.method == "response_url" for c in calls))
    slack.fail(Failure(count=2, status=429, retry_after=1, methods=("chat.postMessage", "chat.update")))
    slack.fail(Failure(count=4, status=500, methods=("chat.postMessage", "chat.update")))

    run_worker(env)

    record = ctx.runs.recent(1)[0]
    assert record.status == "succeeded" and git(repo, "rev-parse", "HEAD") == good
    assert record.elapsed is not None and record.elapsed < 10  # the steps took ~2 s; Slack cost them nothing
    assert [s.duration is not None and s.duration < 5 for s in record.steps] == [True, True]
    assert {c.status for c in slack.calls_to("chat.update", ok_only=False)} | {
        c.status for c in slack.calls_to("chat.postMessage", ok_only=False)} >= {429, 500, 200}  # fmt: skip
    assert final_state(slack)["status"] == "succeeded"
    assert len(channel_posts(slack)) == 1


def test_twenty_concurrent_clicks_start_exactly_one_run(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo)
    answer = slash(web, slack, "/rollback", "phase2")
    body = action_body(ActionId.ROLLBACK_CONFIRM, button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM), ONCALL,
                       slack.response_url())  # fmt: skip
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: signed_post(f"{web}/slack/events", body).status_code, range(20)))
    assert statuses == [200] * 20
    slack.wait_for(lambda calls: len([c for c in calls if c.method == "response_url"]) == 20, timeout=30)
    rollbacks = [r for r in ctx.runs.recent(50) if r.kind == "rollback"]
    assert len(rollbacks) == 1
    assert get_queue("rollback").count == 1
    texts = [c.params["text"] for c in slack.calls_to("response_url")]
    assert sum("Confirmed by" in t for t in texts) == 1


def test_bad_requests_get_401_or_a_clear_answer_and_change_nothing(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo)
    runs_before = ctx.runs.recent(100)
    url = f"{web}/slack/events"
    body = command_body("/rollback", "phase2", ONCALL, slack.response_url())
    assert signed_post(url, body, secret="not-the-secret").status_code == 401
    assert signed_post(url, body, timestamp=int(time.time()) - 6 * 60).status_code == 401
    assert httpx.post(url, content=body, timeout=10).status_code == 401  # unsigned
    forged = action_body(ActionId.ROLLBACK_CONFIRM, json.dumps({"kind": "rollback", "phase": "phase2",
                         "level": "immediate", "token": "x"}), ONCALL, slack.response_url())  # fmt: skip
    assert signed_post(url, forged, secret="not-the-secret").status_code == 401

    cases = {
        "phase9": "Unknown phase `phase9`",
        "help": "rollbot* — emergency rollbacks",
        "phase2 level9": "phase2 has no level `level9`",
        "phase2 --force": "Unknown option `--force`",
        "x" * 10_000: "10000 characters",
        "phase2 ☃ 🚀": "I don't understand `☃`",
        "rollback everything now please": "Too many words",
        "phase1": "analysis-only",
    }
    for text, expected in cases.items():
        answer = slash(web, slack, "/rollback", text)
        shown = answer.get("text", "") + json.dumps(answer.get("blocks", []), ensure_ascii=False)
        assert expected in shown, (text[:30], shown[:300])
        assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert slash(web, slack, "/rollback", "") == {}  # no text: the rollback form (issue 15), no message
    slack.wait_for(lambda calls: any(c.method == "views.open" for c in calls), timeout=10)
    assert "Usage: `/preflight <phase>`" in slash(web, slack, "/preflight", "")["text"]
    assert "Unknown phase `nope`" in slash(web, slack, "/validate", "nope")["text"]

    refused = slash(web, slack, "/rollback", "phase2", user=STRANGER)
    assert refused["text"] == "Sorry <@U0STRANGER>, rolling back phase2 requires the `operator` role."
    click(web, slack, ActionId.ROLLBACK_CONFIRM, json.dumps({"kind": "rollback", "phase": "phase2",
          "level": "immediate", "token": "forged"}), user=STRANGER)  # fmt: skip
    denied = slack.wait_for(lambda calls: any(c.method == "response_url" for c in calls))
    assert "requires the `operator` role" in next(c for c in denied if c.method == "response_url").params["text"]

    assert ctx.runs.recent(100) == runs_before
    assert get_queue("rollback").count == 0


def test_status_history_cancel_and_help(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo)
    assert "No rollback, pre-flight or validation is running." in slash(web, slack, "/rollback", "status")["text"]
    answer = slash(web, slack, "/rollback", "phase2")
    click(web, slack, ActionId.ROLLBACK_CONFIRM, button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM))
    slack.wait_for(lambda calls: any(c.method == "response_url" for c in calls))
    queued = ctx.runs.recent(1)[0]
    status = slash(web, slack, "/rollback", "status")["text"]
    assert queued.run_id in status and "queued" in status
    assert slash(web, slack, "/rollback", "cancel", user=STRANGER)["text"].endswith("requires the `operator` role.")
    slash(web, slack, "/rollback", "cancel")
    slack.wait_for(lambda calls: any("cancelled before it started" in str(c.params.get("text")) for c in calls))
    assert ctx.runs.get(queued.run_id).status == "cancelled"
    history = slash(web, slack, "/rollback", "history")["text"]
    assert queued.run_id in history and "cancelled" in history and "preflight" in history
    assert "/preflight <phase>" in slash(web, slack, "/rollback", "help")["text"]


def test_a_plan_confirmed_after_its_checkpoint_moved_starts_nothing(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo)
    answer = slash(web, slack, "/rollback", "phase2")
    preflight(ctx, Path(env["RUNBOOK"]))  # someone re-takes the checkpoint (now at a bad commit)
    click(web, slack, ActionId.ROLLBACK_CONFIRM, button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM))
    said = slack.wait_for(lambda calls: any(c.method == "response_url" for c in calls))
    assert (
        "The checkpoint changed since this plan was shown"
        in next(c for c in said if c.method == "response_url").params["text"]
    )
    assert [r.kind for r in ctx.runs.recent(10)] == ["preflight", "preflight"]
    dry = slash(web, slack, "/rollback", "phase2 --dry-run", user=STRANGER)
    assert "Dry run" in json.dumps(dry["blocks"]) and not has_button(dry["blocks"], ActionId.ROLLBACK_CONFIRM)
