"""Plain-text answers built in jobs.blocks: help, run lists and the manual fallback."""

from __future__ import annotations

from datetime import timedelta

from jobs.runbook.catalog import Catalog
from jobs.runs.plan import select
from jobs.slack.blocks import help_text, manual_fallback, run_list
from tests.unit.builders import T0, other_runbook, run, runbook, step


def test_help_for_one_runbook_lists_phases_levels_and_analysis_only() -> None:
    said = help_text(Catalog({"billing": runbook()}))
    assert "`/rollback <phase> [<level>] [--dry-run]`" in said and "*Phases*" in said
    assert "• `phase1` — Analysis (analysis only)" in said
    assert "• `phase3` — WebSocket, risk high; levels `level1` (10m), `level2` (15m), `level3` (30m)" in said


def test_help_for_several_runbooks_names_the_service_first() -> None:
    books = Catalog({"billing": runbook().named_in_commands(), "search": other_runbook().named_in_commands()})
    said = help_text(books)
    assert "`/rollback <service> <phase> [<level>] [--dry-run]`" in said
    assert "*Phases of `billing`*" in said and "*Phases of `search`*" in said


def test_run_list_shows_active_runs_with_their_current_step() -> None:
    now = T0 + timedelta(minutes=2)
    running = run("running", steps=[step(0), step(1, "running"), step(2, "pending")])
    done = run("failed", run_id="rb-2", actor="cli:alice", elapsed=95.0)
    lines = run_list([running, done], now, "none").split("\n")
    assert lines[0] == ("⏳ `rb-20261125-174233-3fa2` billing rollback phase3 level1 by <@U0OPERATOR> — running "
                        "(1m59s) — step 2/3 Step 2")  # fmt: skip
    assert lines[1] == "❌ `rb-2` billing rollback phase3 level1 by `cli:alice` — failed (1m35s)"
    assert run_list([], now, "No runs.") == "No runs."


def test_manual_fallback_lists_commands_with_the_newest_checkpoint_tag() -> None:
    said = manual_fallback(select(runbook(), "rollback", "phase2"))
    assert "`rollbot rollback phase2 --level immediate` — or, step by step:" in said
    assert "cd /srv/billing\nTAG=$(git tag --list 'phase2-pre-*' --sort=-creatordate | head -n 1)" in said
    assert "git checkout main && git reset --hard $TAG" in said
    assert "systemctl restart billing-billing-prod" in said


def test_manual_fallback_for_validation_names_the_validate_command_and_service() -> None:
    said = manual_fallback(select(runbook().named_in_commands(), "validation", "phase3"))
    assert "`rollbot validate phase3 --service billing`" in said and "TAG=" not in said
    assert "pytest smoke" in said
