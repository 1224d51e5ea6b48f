"""Usual durations, expected totals and finishes, readiness words: pure code, no Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_sdk.models.blocks import Block

from jobs.records.history import Usual, summarize
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.loader import parse_runbook
from jobs.runbook.model import CommandStep
from jobs.runs.eta import Estimate, live_line, plan_lines, progress_note, total_line
from jobs.runs.plan import select
from jobs.runs.rehearsal import rehearsal_steps
from jobs.runs.rehearsal_executor import resolve_program
from jobs.slack.blocks import estimate_block

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RUNBOOK = """\
version: 1
service: sandbox
repo: .
alert_channel: "#alerts"
rehearsal: {every: 7d}
readiness: {max_checkpoint_age: 10d}
phases:
  phase3:
    title: Implementation Consolidation
    risk: high
    levels:
      level1:
        budget: 15m
        rehearsal: {every: 1d}
        steps:
          - name: Deploy
            run: [./deploy.sh, --staging]
            rehearse: [./deploy.sh, --staging, --dry-run]
          - name: Restart
            run: [systemctl, restart, app]
      level2:
        budget: 30m
        steps:
          - run: [echo, restarted]
            rehearse: run
"""


def test_summarize_median_and_p90() -> None:
    assert summarize([]) is None
    usual = summarize([float(n) for n in range(1, 11)])
    assert usual == Usual(median=5.5, p90=9.0, count=10)


def test_plan_lines_say_no_history_yet_and_never_make_a_number_up() -> None:
    book = parse_runbook(RUNBOOK, "rb.yaml", Path("/tmp"))
    plan = select(book, "rollback", "phase3", "level1")
    lines = plan_lines(plan, Estimate([Usual(60, 90, 3), None], plan.budget, "level2"))
    assert lines[0] == "1. Deploy: usually 1m (p90 1m30s, 3 runs)"
    assert lines[1] == "2. Restart: no history yet"
    assert lines[2] == "Expected total: no history yet (1 of 2 steps never ran) · budget 15m"


def test_an_expected_total_over_budget_names_the_next_level() -> None:
    over = Estimate([Usual(600, 700, 5), Usual(400, 500, 5)], 900.0, "level2")
    assert total_line(over) == "⚠️ Expected total 16m40s EXCEEDS the 15m budget; consider `level2` (the next level)"
    assert total_line(Estimate([Usual(60, 70, 1)], 900.0)) == "Expected total: 1m of the 15m budget"


def test_progress_note_gives_the_expected_finish_and_a_step_past_its_p90() -> None:
    steps = [
        StepRecord(index=0, title="a", command="a", status="succeeded", duration=5),
        StepRecord(index=1, title="b", command="b", status="running", started_at=NOW - timedelta(seconds=50)),
        StepRecord(index=2, title="c", command="c"),
    ]
    record = RunRecord(run_id="rb-1", kind="rollback", service="s", phase="p", level="l", actor="U1",
                       status="running", created_at=NOW, budget=900, steps=steps)  # fmt: skip
    note = progress_note(record, Estimate([Usual(5, 6, 3), Usual(30, 40, 3), Usual(10, 12, 3)], 900), NOW)
    assert note == ("Expected finish: 12:00:10 UTC · ⚠️ step 2 (b) is running past its usual p90 (50s, p90 40s)")
    unknown = progress_note(record, Estimate([Usual(5, 6, 3), Usual(30, 40, 3), None], 900), NOW)
    assert unknown is not None and unknown.startswith("Expected finish: no history yet")


def test_live_line() -> None:
    line = live_line(1, 3, "Restart", 12.0, Usual(10, 11, 4), 300.0)
    assert line == "▶ [2/3] Restart: 12s elapsed · usually 10s (p90 11s, 4 runs) · budget left 5m — past its usual p90"


def test_rehearsal_steps_swap_in_the_rehearse_command_and_keep_the_title() -> None:
    book = parse_runbook(RUNBOOK, "rb.yaml", Path("/tmp"))
    assert book.rehearsal is not None and book.rehearsal.every == 7 * 86400
    assert book.readiness.max_checkpoint_age == 10 * 86400
    level = book.phases["phase3"].levels["level1"]
    assert level.rehearsal is not None and level.rehearsal.every == 86400
    deploy, restart = rehearsal_steps(level.steps)
    assert isinstance(deploy, CommandStep) and isinstance(restart, CommandStep)
    assert deploy.title == "Deploy" and deploy.run == ["./deploy.sh", "--staging", "--dry-run"]
    assert deploy.rehearse == "run" and restart.rehearse is None


def test_resolve_program(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\n")
    assert resolve_program("./deploy.sh", tmp_path, None)[0] is None  # not executable
    script.chmod(0o755)
    assert resolve_program("./deploy.sh", tmp_path, None)[0] == script
    assert resolve_program("./missing.sh", tmp_path, None)[0] is None
    assert resolve_program("sh", tmp_path, "/bin:/usr/bin")[0] is not None
    assert resolve_program("no-such-program-anywhere", tmp_path, "/bin:/usr/bin")[0] is None


def test_estimate_block_is_valid_block_kit() -> None:
    book = parse_runbook(RUNBOOK, "rb.yaml", Path("/tmp"))
    plan = select(book, "rollback", "phase3", "level1")
    block = estimate_block(plan, Estimate([None, None], plan.budget))
    parsed = Block.parse(block.to_dict())
    assert parsed is not None and "no history yet" in str(block.to_dict())
