"""Retry, Escalate and the alert card's *Roll back* run with the checkpoint their message showed:
after a new preflight in between, the run is refused (naming both checkpoints) and HEAD is never
reset to a checkpoint nobody was shown. Over signed HTTP to `rollbot web`, real workers, real git.
"""

from __future__ import annotations

from pathlib import Path

from jobs.context import Context
from jobs.core.ids import ActionId
from jobs.records.checkpoints import Checkpoint
from jobs.records.runs import RunRecord
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import create_run, enqueue_run
from jobs.runs.plan import select, with_checkpoint
from jobs.runs.runner import execute_run
from tests.conftest import LEAD, ONCALL, commit, git, run_worker, wait_for, write_runbook
from tests.standins.signed import action_body, button_value, signed_post
from tests.standins.slack import SlackStandIn
from tests.support.alerts import MANUAL_LINE, SUGGESTING_HEALTH, alert_cards, message, post_event
from tests.support.runs import preflight
from tests.support.slack import click, final_state, replies

# A phase whose every level resets to its checkpoint (level1's last step fails).
PHASE4 = """\
  phase4:
    title: Data migration
    risk: high
    checkpoint: pre-data-migration
    preflight:
      - uses: git.checkpoint
    levels:
      level1:
        budget: 15m
        steps:
          - uses: git.reset_to_checkpoint
          - name: Migrate down
            run: [sh, -c, "echo migration failed >&2; exit 1"]
      level2:
        budget: 30m
        steps:
          - uses: git.reset_to_checkpoint
          - name: Restore the database
            run: [echo, restored]
"""


def take_checkpoint(ctx: Context, env: dict[str, str], phase: str) -> Checkpoint:
    """Run `phase`'s preflight in this process; returns the checkpoint it recorded."""
    runbook = load_runbook(Path(env["RUNBOOK"]))
    final = execute_run(ctx, create_run(ctx, select(runbook, "preflight", phase), "cli:test").run_id, runbook)
    assert final.status == "succeeded", final
    checkpoint = ctx.checkpoints.get("sandbox", phase)
    assert checkpoint is not None
    return checkpoint


def failed_rollback(ctx: Context, env: dict[str, str], phase: str) -> RunRecord:
    """Level 1 of `phase` run by a worker; it resets, then its last step fails."""
    runbook = load_runbook(Path(env["RUNBOOK"]))
    plan = with_checkpoint(select(runbook, "rollback", phase, "level1"), ctx.checkpoints.get("sandbox", phase))
    record = enqueue_run(ctx, plan, ONCALL)
    run_worker(env)
    failed = ctx.runs.get(record.run_id)
    assert failed.status == "failed", failed
    return failed


def rerun_of(ctx: Context, slack: SlackStandIn, parent: RunRecord, answers: int) -> RunRecord:
    """The run a Retry or Escalate click on `parent` started (once its answer is in)."""
    slack.wait_for(lambda calls: len([c for c in calls if c.method == "response_url"]) >= answers)
    assert "Confirmed by" in slack.calls_to("response_url")[-1].params["text"]
    (rerun,) = [r for r in ctx.runs.recent(20) if r.parent_run_id == parent.run_id]
    return rerun


def assert_refused_for_the_moved_checkpoint(record: RunRecord, shown: Checkpoint, moved: Checkpoint) -> None:
    assert record.status == "refused", record
    error = record.error or ""
    assert "checkpoint changed after this rollback was confirmed" in error
    assert shown.commit[:12] in error and moved.commit[:12] in error
    assert record.steps == [] or all(s.status != "succeeded" for s in record.steps)


def test_retry_after_a_new_preflight_is_refused_and_never_resets_to_the_new_checkpoint(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo, phase3=True)
    shown = take_checkpoint(ctx, env, "phase3")
    commit(repo, "bad 1")
    failed = failed_rollback(ctx, env, "phase3")
    assert failed.checkpoint_commit == shown.commit and git(repo, "rev-parse", "HEAD") == shown.commit

    # Meanwhile someone takes a new checkpoint (a /preflight), and work goes on.
    commit(repo, "bad 2")
    moved = take_checkpoint(ctx, env, "phase3")
    assert moved.commit != shown.commit
    head = commit(repo, "bad 3")

    click(web, slack, ActionId.ROLLBACK_RETRY, failed.run_id)
    retry = rerun_of(ctx, slack, failed, answers=1)
    assert retry.checkpoint_commit == shown.commit and retry.level == "level1"
    run_worker(env)

    assert_refused_for_the_moved_checkpoint(ctx.runs.get(retry.run_id), shown, moved)
    assert git(repo, "rev-parse", "HEAD") == head, "HEAD was reset to a checkpoint the message never showed"
    assert final_state(slack) == {"run_id": retry.run_id, "phase": "phase3", "level": "level1", "status": "refused"}

    # Escalating to a level that never resets is not held up by the moved checkpoint.
    click(web, slack, ActionId.ROLLBACK_ESCALATE, failed.run_id, user=LEAD)
    escalated: RunRecord = wait_for(
        lambda: next((r for r in ctx.runs.recent(20) if r.parent_run_id == failed.run_id and r.level == "level2"), None),
        10, "the escalation")  # fmt: skip
    run_worker(env)
    assert ctx.runs.get(escalated.run_id).status == "succeeded"


def test_escalate_after_a_new_preflight_is_refused_and_never_resets_to_the_new_checkpoint(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo)
    path.write_text(path.read_text() + PHASE4)
    shown = take_checkpoint(ctx, env, "phase4")
    commit(repo, "bad 1")
    failed = failed_rollback(ctx, env, "phase4")
    commit(repo, "bad 2")
    moved = take_checkpoint(ctx, env, "phase4")
    head = commit(repo, "bad 3")

    click(web, slack, ActionId.ROLLBACK_ESCALATE, failed.run_id, user=LEAD)
    escalated = rerun_of(ctx, slack, failed, answers=1)
    assert escalated.level == "level2" and escalated.checkpoint_commit == shown.commit
    run_worker(env)

    assert_refused_for_the_moved_checkpoint(ctx.runs.get(escalated.run_id), shown, moved)
    assert git(repo, "rev-parse", "HEAD") == head


def test_the_alert_cards_roll_back_is_refused_when_the_checkpoint_it_showed_moved(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo, extra=SUGGESTING_HEALTH)
    preflight(ctx, path)
    shown = ctx.checkpoints.get("sandbox", "phase2")
    assert shown is not None
    commit(repo, "bad release")
    post_event(web, message(MANUAL_LINE, subtype=None, bot_id=None, user=LEAD), "Ev1")
    wait_for(lambda: ctx.redis.llen(ctx.keys.held_messages) == 1, 10, "the message held until the channel is known")
    run_worker(env, "--queues", "notify")  # looks up the channel, matches the message, posts the card
    (card,) = alert_cards(slack, "chat.postMessage")
    assert shown.commit[:12] in str(card["blocks"]), "the card shows the checkpoint its Roll back resets to"

    preflight(ctx, path)  # a new checkpoint; the card was not updated since
    moved = ctx.checkpoints.get("sandbox", "phase2")
    assert moved is not None and moved.commit != shown.commit
    head = commit(repo, "more work")

    value = button_value(card["blocks"], "alert_rollback")
    signed_post(f"{web}/slack/events", action_body("alert_rollback", value, ONCALL, slack.response_url("click")))
    assert "is run `" in replies(slack, "click")[0]
    (rollback,) = [r for r in ctx.runs.recent(10) if r.kind == "rollback"]
    assert rollback.checkpoint_commit == shown.commit
    run_worker(env, "--queues", "rollback")

    assert_refused_for_the_moved_checkpoint(ctx.runs.get(rollback.run_id), shown, moved)
    assert git(repo, "rev-parse", "HEAD") == head
