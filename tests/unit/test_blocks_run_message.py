"""The run message (jobs.blocks.run_message and its lines): valid Block Kit for every status,
the fixed `rollbot_run` metadata, and the buttons each state offers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from jobs.core.ids import ActionId
from jobs.records.runs import RunStatus
from jobs.slack.blocks import failure_reply, result_line, run_message, step_line, who
from jobs.slack.notifier import next_level
from tests.unit.builders import T0, action_ids, all_text, buttons, metadata_of, run, runbook, step, valid_blocks

NOW = T0 + timedelta(seconds=40)
STATUSES: tuple[RunStatus, ...] = ("queued", "running", "succeeded", "failed", "timed_out", "budget_exceeded",
                                   "cancelled", "interrupted", "refused")  # fmt: skip


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_renders_valid_blocks_and_run_metadata(status: RunStatus) -> None:
    record = run(status, steps=[step(0), step(1, "running" if status == "running" else "failed", detail="exit 1")],
                 error="no worker" if status in ("interrupted", "refused") else None)  # fmt: skip
    text, blocks, metadata = run_message(record, NOW)
    valid_blocks(blocks)
    assert text.startswith("Rollback: billing phase3 level1 — ")
    event_type, payload = metadata_of(metadata)
    assert event_type == "rollbot_run"
    assert payload == {"run_id": record.run_id, "phase": "phase3", "level": "level1", "status": status}


def test_metadata_level_is_empty_text_for_a_run_without_level() -> None:
    _, _, metadata = run_message(run("succeeded", kind="preflight", level=None, phase="phase2"), NOW)
    assert metadata_of(metadata)[1]["level"] == ""


@pytest.mark.parametrize("status", ["queued", "running"])
def test_an_active_run_offers_only_cancel_with_a_confirmation(status: RunStatus) -> None:
    _, blocks, _ = run_message(run(status), NOW, next_level="level2")
    assert action_ids(blocks) == [ActionId.ROLLBACK_CANCEL]
    cancel = buttons(blocks)["rollback_cancel"]
    assert cancel["value"] == "rb-20261125-174233-3fa2"
    assert cancel["confirm"]["confirm"]["text"] == "Cancel run"


def test_a_failed_rollback_offers_retry_and_escalation_to_the_next_level() -> None:
    book = runbook()
    record = run("failed", steps=[step(0, "failed", detail="exit code 1")])
    _, blocks, _ = run_message(record, NOW, next_level(book, record))
    assert action_ids(blocks) == ["rollback_retry", "rollback_escalate"]
    escalate = buttons(blocks)["rollback_escalate"]
    assert escalate["text"]["text"] == "Escalate to level2"
    assert escalate["value"] == record.run_id and escalate["style"] == "danger"


def test_the_last_level_is_never_offered_an_escalation() -> None:
    book = runbook()
    for record in (run("failed", level="level3"), run("failed", phase="phase2", level="immediate")):
        assert next_level(book, record) is None
        _, blocks, _ = run_message(record, NOW, next_level(book, record))
        assert action_ids(blocks) == ["rollback_retry"]
        assert "Escalate" not in json.dumps(valid_blocks(blocks))


def test_next_level_follows_the_runbooks_order_and_only_for_rollbacks() -> None:
    book = runbook()
    assert next_level(book, run("failed", level="level1")) == "level2"
    assert next_level(book, run("failed", level="level2")) == "level3"
    assert next_level(book, run("failed", kind="validation", level=None)) is None
    assert next_level(book, run("failed", phase="nope")) is None


@pytest.mark.parametrize("kind", ["preflight", "validation"])
def test_preflight_and_validation_runs_have_no_retry_buttons(kind: str) -> None:
    _, blocks, _ = run_message(run("failed", kind=kind, level=None), NOW, next_level="level2")
    assert action_ids(blocks) == []


def test_a_succeeded_rollback_has_no_buttons_and_names_the_new_head() -> None:
    record = run("succeeded", head_after="fedcba9876543210", checkpoint_tag="phase3-pre-20261125",
                 checkpoint_commit="0123456789abcdef")  # fmt: skip
    text, blocks, _ = run_message(record, NOW, next_level="level2")
    assert action_ids(blocks) == []
    shown = all_text(blocks)
    assert "HEAD is now `fedcba987654`" in shown
    assert "checkpoint `phase3-pre-20261125` (`0123456789ab`)" in shown
    assert "*Rollback succeeded* in 30s (budget 10m)" in text


def test_a_preflight_shows_the_checkpoint_it_recorded_not_the_one_it_resets_to() -> None:
    record = run("succeeded", kind="preflight", phase="phase2", level=None, checkpoint_tag="phase2-pre-20261125",
                 checkpoint_commit="0123456789abcdef")  # fmt: skip
    _, blocks, _ = run_message(record, NOW)
    shown = all_text(blocks)
    assert "Checkpoint recorded: `phase2-pre-20261125` at `0123456789ab`." in shown
    assert "checkpoint `phase2-pre" not in shown.split("\n")[1]  # the context line


def test_requester_and_approver_are_mentioned() -> None:
    _, blocks, _ = run_message(run("running", approved_by="U0APPROVER"), NOW)
    assert "Requested by <@U0OPERATOR>, approved by <@U0APPROVER>" in all_text(blocks)


def test_who_mentions_slack_users_and_quotes_other_actors() -> None:
    assert who("U0ABC123") == "<@U0ABC123>"
    assert who("W0ABC123") == "<@W0ABC123>"
    assert who("cli:alice") == "`cli:alice`"
    assert who("automation") == "`automation`"


def test_step_lines_say_running_time_failure_detail_and_skips() -> None:
    started = NOW - timedelta(seconds=12)
    assert step_line(step(0, "running", started_at=started, duration=None), NOW) == "⏳ 1. Step 1 — running 12s"
    assert step_line(step(1, "failed", detail="exit code 3"), NOW) == "❌ 2. Step 2 — 3s — exit code 3"
    assert step_line(step(2, "skipped", duration=None), NOW) == "⏭ 3. Step 3 — skipped"
    assert step_line(step(3, "succeeded", detail="ignored"), NOW) == "✅ 4. Step 4 — 5s"


def test_result_lines_name_the_failing_step_and_the_budget() -> None:
    steps = [step(0), step(1, "budget_exceeded", title="Restart")]
    line = result_line(run("budget_exceeded", steps=steps, elapsed=700.0))
    assert "budget exceeded" in line and "11m40s of its 10m budget" in line and "at step 2 (Restart)" in line
    assert "by <@U0BOSS>" in result_line(run("cancelled", cancelled_by="U0BOSS"))
    assert result_line(run("refused", error="billing is busy")) == "🚫 *Rollback refused* — billing is busy"


def test_hundreds_of_steps_are_clipped_to_slacks_section_limit() -> None:
    steps = [step(i, detail="x" * 50, title="A step with a long title " * 3) for i in range(200)]
    _, blocks, _ = run_message(run("failed", steps=steps), NOW)
    dicts = valid_blocks(blocks)
    sections = [d["text"]["text"] for d in dicts if d["type"] == "section" and "text" in d]
    assert all(len(text) <= 3000 for text in sections)
    assert "… (truncated)" in sections[0]


def test_a_long_title_is_cut_to_the_header_limit() -> None:
    _, blocks, _ = run_message(run("running", phase="p" * 200), NOW)
    header = valid_blocks(blocks)[0]
    assert header["type"] == "header" and len(header["text"]["text"]) == 150


def test_failure_reply_quotes_the_output_tail() -> None:
    reply = failure_reply(step(1, "failed", title="Migrate", detail="exit code 2", output_tail="a\n" * 2000 + "boom\n"))
    assert reply.startswith("❌ Step 2 *Migrate* failed: exit code 2\n```")
    assert reply.endswith("boom```") and len(reply) < 2900
    assert "(no output)" in failure_reply(step(0, "timed_out"))


def test_the_longest_names_a_runbook_allows_still_render_valid_blocks() -> None:
    longest = "x" * 40  # runbook names are at most 40 characters
    record = run("failed", service=longest, phase=longest, level=longest, steps=[step(0, "failed")])
    _, blocks, _ = run_message(record, NOW, next_level="y" * 40)
    assert buttons(blocks)["rollback_escalate"]["text"]["text"] == "Escalate to " + "y" * 40
