"""Choosing what a run will do (jobs.plan): targets, errors naming the valid ones, checkpoints,
placeholder resolution and the terminal rendering."""

from __future__ import annotations

import pytest

from jobs.core.exceptions import AnalysisOnlyError, NoCheckpointError, UnknownTargetError
from jobs.runbook.model import CommandStep, GitCheckpointStep
from jobs.runs.plan import CHECKLIST_PHASE, command_text, level_list, render_plan, select, with_checkpoint
from tests.unit.builders import RUNBOOK_YAML, checkpoint, runbook


def test_a_rollback_without_level_takes_the_phases_first_level() -> None:
    plan = select(runbook(), "rollback", "phase3")
    assert (plan.kind, plan.phase_name, plan.level_name, plan.budget, plan.approvals) == (
        "rollback", "phase3", "level1", 600.0, 1,
    )  # fmt: skip
    assert plan.values == {"project": "billing-prod", "phase": "phase3", "service": "billing", "level": "level1"}


def test_a_level_needing_two_approvals_says_so() -> None:
    plan = select(runbook(), "rollback", "phase3", "level3")
    assert plan.approvals == 2
    assert "Level: level3 · budget 30m · needs a second approver" in render_plan(plan)


@pytest.mark.parametrize(
    ("kind", "phase", "level", "error", "said"),
    [
        ("rollback", "phase9", None, UnknownTargetError, "Unknown phase `phase9`. Valid phases: `phase1` (Analysis, "
         "analysis only), `phase2` (Tool dispatcher), `phase3` (WebSocket)."),
        ("rollback", "phase3", "level9", UnknownTargetError, "phase3 has no level `level9`. Valid levels: `level1` "
         "(10m), `level2` (15m), `level3` (30m)."),
        ("rollback", None, None, UnknownTargetError, "`rollback` needs a phase."),
        ("preflight", "phase3", None, UnknownTargetError, "phase3 (WebSocket) has no preflight steps."),
        ("preflight", "phase2", "immediate", UnknownTargetError, "Levels apply to rollbacks only"),
        ("rollback", "phase1", None, AnalysisOnlyError, "phase1 (Analysis) is analysis-only"),
    ],
)  # fmt: skip
def test_unknown_or_impossible_targets_are_clear_errors(
    kind: str, phase: str | None, level: str | None, error: type[Exception], said: str | None
) -> None:
    with pytest.raises(error) as raised:
        select(runbook(), kind, phase, level)  # type: ignore[arg-type]
    if said is not None:
        assert said in str(raised.value)


def test_validation_runs_the_phase_steps_then_the_checklist_commands() -> None:
    book = runbook()
    plan = select(book, "validation", "phase3")
    assert [s.title for s in plan.steps] == ["Smoke tests", "Health endpoint answers"]
    assert command_text(plan.steps[1], plan) == "curl -f https://billing-prod.example/health"
    assert [s.title for s in select(book, "validation", "phase2").steps] == ["Health endpoint answers"]


def test_validation_with_nothing_to_run_is_an_error() -> None:
    book = runbook(RUNBOOK_YAML.replace('    run: [curl, -f, "https://{project}.example/health"]\n', ""))
    with pytest.raises(UnknownTargetError, match="phase2 has no validation steps and the checklist has no commands"):
        select(book, "validation", "phase2")


def test_the_analysis_only_message_lists_stop_criteria_and_recovery_actions() -> None:
    with pytest.raises(AnalysisOnlyError) as raised:
        select(runbook(), "rollback", "phase1")
    assert raised.value.user_message.split("\n") == [
        "phase1 (Analysis) is analysis-only: there are no code changes to roll back.",
        "Emergency stop criteria:",
        "  • Error rate doubles",
        "Recovery actions:",
        "  1. Turn the flag off",
    ]


def test_validation_of_the_checklist_alone() -> None:
    for phase in (None, CHECKLIST_PHASE):
        plan = select(runbook(), "validation", phase)
        assert plan.phase_name == "checklist" and plan.phase.analysis_only
        assert [s.name for s in plan.steps] == ["Health endpoint answers"]


def test_a_reset_needs_a_recorded_checkpoint_and_a_preflight_takes_its_own() -> None:
    rollback = select(runbook(), "rollback", "phase2")
    assert rollback.needs_checkpoint
    with pytest.raises(NoCheckpointError, match=r"Run `/preflight phase2` \(or `rollbot preflight phase2`\)"):
        rollback.require_checkpoint()
    with_checkpoint(rollback, checkpoint()).require_checkpoint()
    preflight = select(runbook(), "preflight", "phase2")
    assert isinstance(preflight.steps[0], GitCheckpointStep) and not preflight.needs_checkpoint
    assert not select(runbook(), "rollback", "phase3").needs_checkpoint


def test_with_checkpoint_fills_the_checkpoint_and_run_id_placeholders() -> None:
    plan = with_checkpoint(select(runbook(), "rollback", "phase3", "level3"), checkpoint(), run_id="rb-1")
    assert plan.values["checkpoint"] == "phase2-pre-20261125" and plan.values["checkpoint_commit"].startswith("0123")
    assert command_text(plan.steps[0], plan) == "echo phase3-level3-rb-1"
    assert with_checkpoint(plan, None).checkpoint is None


def test_command_text_of_each_step_kind() -> None:
    plan = select(runbook(), "preflight", "phase2")
    assert command_text(plan.steps[0], plan) == "git tag phase2-pre-YYYYMMDD"
    rollback = select(runbook(), "rollback", "phase2")
    assert command_text(rollback.steps[0], rollback) == "git checkout main && git reset --hard <recorded checkpoint>"


def test_step_titles_for_unnamed_steps() -> None:
    assert CommandStep(run=["echo"]).title == "echo"
    assert CommandStep(run=["kubectl", "rollout", "undo", "deploy/x"]).title == "kubectl rollout undo"
    assert CommandStep(name="Named", run=["x"]).title == "Named"
    assert GitCheckpointStep(uses="git.checkpoint").title == "git.checkpoint"


def test_level_list_and_render_plan_for_the_terminal() -> None:
    book = runbook()
    assert level_list(book.phases["phase2"]) == "`immediate` (5m)"
    lines = render_plan(select(book, "rollback", "phase2")).split("\n")
    assert lines[0] == "Rollback — billing phase2 (Tool dispatcher), risk medium"
    assert lines[1] == "Level: immediate (Reset to checkpoint) · budget 5m"
    assert lines[2] == "Repository: /srv/billing (main branch main)"
    assert lines[3] == "Checkpoint: none recorded — run `rollbot preflight phase2` first"
    assert lines[5:] == [
        "  1. git.reset_to_checkpoint: git checkout main && git reset --hard <recorded checkpoint>",
        "  2. Restart services: systemctl restart billing-billing-prod  [timeout 30s]",
    ]
    shown = render_plan(with_checkpoint(select(book, "rollback", "phase2"), checkpoint()))
    assert "Checkpoint: phase2-pre-20261125 at 0123456789ab, taken 2026-11-25 15:42 UTC by U0OPERATOR" in shown
