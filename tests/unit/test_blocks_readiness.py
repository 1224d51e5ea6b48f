"""Rehearsal Block Kit: the run message of a rehearsal (title, metadata, no Retry/Escalate), the
readiness card and the readiness list."""

from __future__ import annotations

from datetime import timedelta

from jobs.records.checkpoints import Checkpoint
from jobs.runs.eta import Estimate
from jobs.runs.readiness import LastRehearsal, RehearsalResult, Row
from jobs.slack.blocks import readiness_card, readiness_list, rehearsal_reply, run_message
from tests.unit.builders import T0, action_ids, all_text, metadata_of, run, step, valid_blocks

NOW = T0 + timedelta(seconds=40)


def test_a_rehearsal_run_message_is_titled_and_marked_a_rehearsal() -> None:
    record = run("failed", steps=[step(0), step(1, "failed", detail="exit code 3")]).model_copy(
        update={"rehearsal": True}
    )
    text, blocks, metadata = run_message(record, NOW, next_level="level2")
    valid_blocks(blocks)
    assert text.startswith("Rehearsal: billing phase3 level1 — ❌ *Rehearsal FAILED*")
    assert metadata_of(metadata)[1]["rehearsal"] is True
    assert not action_ids(blocks)  # never Retry or Escalate: those would be real runs


def test_a_running_run_shows_its_progress_note() -> None:
    _, blocks, _ = run_message(run("running", steps=[step(0, "running")]), NOW, progress="Expected finish: 17:43 UTC")
    valid_blocks(blocks)
    assert "Expected finish: 17:43 UTC" in all_text(blocks)


def result(ready: bool) -> RehearsalResult:
    record = run("succeeded" if ready else "failed", steps=[step(0)]).model_copy(update={"rehearsal": True})
    checkpoint = Checkpoint(tag="pre-x-20261120", commit="a" * 40, taken_at=T0 - timedelta(days=5))
    reasons = [] if ready else ["the rehearsal failed at step 1 (a): exit code 3"]
    return RehearsalResult(record, checkpoint, Estimate([None], 900.0), ready, reasons)


def test_the_readiness_card_says_the_verdict_and_its_reasons() -> None:
    for ready in (True, False):
        text, blocks, metadata = readiness_card(result(ready), NOW)
        valid_blocks(blocks)
        event_type, payload = metadata_of(metadata)
        assert event_type == "rollbot_readiness" and payload["ready"] is ready
        assert ("is ready" if ready else "is NOT READY") in text
    assert "exit code 3" in all_text(readiness_card(result(False), NOW)[1])
    reply = rehearsal_reply(result(False), NOW)
    assert "NOT READY" in reply and "pre-x-20261120" in reply and "exit code 3" in reply


def test_the_readiness_list() -> None:
    checkpoint = Checkpoint(tag="pre-x-20261120", commit="a" * 40, taken_at=T0 - timedelta(days=2))
    last = LastRehearsal(run_id="rh-1", at=T0 - timedelta(hours=3), ready=True, predicted=42.0, budget=900.0)
    rows = [Row("billing", "phase3", "level1", 900.0, checkpoint, last, True, []),
            Row("billing", "phase3", "level2", 1800.0, None, None, False, ["never rehearsed"])]  # fmt: skip
    text = readiness_list(rows, T0)
    assert (
        "✅ billing phase3 level1: ready — checkpoint 48h old · rehearsed 3h ago (ready) · expected 42s of 15m" in text
    )
    assert "⚠️ billing phase3 level2: not ready: never rehearsed — no checkpoint · never rehearsed" in text
    assert readiness_list([], T0) == "No level to roll back in the runbooks."
