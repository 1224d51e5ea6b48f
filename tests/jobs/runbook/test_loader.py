"""The runbook format: the default runbook is the manual; malformed ones fail with YAML paths."""

from __future__ import annotations

from pathlib import Path

from jobs.runbook.loader import load_runbook, parse_runbook
from jobs.runbook.model import (
    CommandStep,
    GitCheckpointStep,
    GitResetStep,
    HttpCheckStep,
    WaitUntilHealthyStep,
)
from tests.support.runbooks import problems_of

DEFAULT = Path(__file__).resolve().parents[3] / "runbooks" / "ssot-tool-dispatcher.yaml"


def test_default_runbook_is_the_manual() -> None:
    runbook = load_runbook(DEFAULT)
    assert list(runbook.phases) == ["phase1", "phase2", "phase3", "phase4"]
    phase1, phase2, phase3, phase4 = runbook.phases.values()
    assert phase1.analysis_only and not phase1.levels and len(phase1.stop_criteria) == 4
    assert {name: level.budget for name, level in phase2.levels.items()} == {"immediate": 1800}
    assert {name: level.budget for name, level in phase3.levels.items()} == {
        "level1": 900, "level2": 1800, "level3": 3600,
    }  # fmt: skip
    assert phase4.levels["immediate"].budget == 3600
    assert phase3.levels["level3"].approvals == 2
    # Every checkpointing phase tags (and phase 2/3 branch) in pre-flight, as the manual does.
    for phase, branch in (
        (phase2, "factory-consolidation"),
        (phase3, "implementation-consolidation"),
        (phase4, None),
    ):
        checkpoints = [s for s in phase.preflight if isinstance(s, GitCheckpointStep)]
        assert [c.branch for c in checkpoints] == [branch]
    assert isinstance(phase2.levels["immediate"].steps[0], GitResetStep)
    assert isinstance(phase3.levels["level1"].steps[0], GitResetStep)
    assert isinstance(phase3.levels["level1"].steps[2], HttpCheckStep)
    # The manual's `sleep 300` is a wait-until-healthy step with a 300 s ceiling.
    wait = phase3.levels["level3"].steps[1]
    assert isinstance(wait, WaitUntilHealthyStep) and wait.timeout == 300 and wait.source == "golden_path"
    # Every command of the manual's phase 3 pre-flight is there.
    commands = [s.run for s in phase3.preflight if isinstance(s, CommandStep)]
    assert ["python", "scripts/health_check_comprehensive.py"] in commands
    assert len(phase2.warning_signs) == 5 and len(phase4.rollback_criteria) == 6
    assert len(phase3.monitoring) == 7
    golden = runbook.health["golden_path"]
    assert golden.interval == 30
    assert golden.metrics["success_rate"].alert_below == 0.95
    assert golden.metrics["success_rate"].rollback_below == 0.90
    checklist = runbook.recovery_checklist
    assert len(checklist) == 13 and len([i for i in checklist if i.run is None]) == 8  # the 8 items of the manual
    assert runbook.recovery_target == 3600
    assert golden.on_breach is not None and golden.on_breach.mode == "suggest"
    assert runbook.contacts.technical[0].name.startswith("Primary: Lead Engineer")


def test_unknown_keys_and_bad_values_are_reported_with_yaml_paths_and_lines() -> None:
    problems = problems_of(
        """\
version: 1
service: svc
repo: .
alert_channel: "#a"
surprise: true
phases:
  phase2:
    title: T
    risk: catastrophic
    checkpoint: pre
    levels:
      immediate:
        budget: 30 minutes
        steps:
          - uses: git.reset_to_checkpoint
            force: yes
          - {name: no kind}
"""
    )
    where = dict(problems)
    assert "surprise (line 5)" in where
    assert "phases.phase2.risk (line 9)" in where
    assert "not a duration" in where["phases.phase2.levels.immediate.budget (line 13)"]
    assert "phases.phase2.levels.immediate.steps[0].force (line 16)" in where
    assert "needs `run:" in where["phases.phase2.levels.immediate.steps[1] (line 17)"]


def test_unknown_placeholder_is_a_load_error_naming_the_step() -> None:
    problems = problems_of(
        """\
version: 1
service: svc
repo: .
alert_channel: "#a"
vars: {project: staging}
phases:
  phase2:
    title: T
    risk: medium
    levels:
      immediate:
        budget: 30m
        steps:
          - name: Restart staging services
            run: [deploy, "--project={projct}"]
"""
    )
    assert len(problems) == 1
    path, message = problems[0]
    assert path == "phases.phase2.levels.immediate.steps[0] (line 14)"
    assert "'Restart staging services'" in message and "{projct}" in message and "project" in message


def test_semantic_errors_duplicate_keys_and_yaml_syntax() -> None:
    base = 'version: 1\nservice: svc\nrepo: .\nalert_channel: "#a"\n'
    problems = problems_of(
        base
        + "phases:\n  phase1: {title: A, risk: minimal}\n"
        + "  phase2: {title: B, risk: medium, levels: {l1: {budget: 5m, steps: [{uses: git.reset_to_checkpoint}]}}}\n"
    )
    messages = " | ".join(message for _, message in problems)
    assert "at least one level" in messages and "needs `checkpoint:`" in messages
    assert "duplicate key 'phase1'" in problems_of(base + "phases:\n  phase1: {}\n  phase1: {}\n")[0][1]
    assert problems_of(base + "phases: [unclosed\n")[0][0].startswith("line ")


def test_durations_accept_the_designed_forms() -> None:
    text = (
        'version: 1\nservice: svc\nrepo: .\nalert_channel: "#a"\nphases:\n  p:\n    title: T\n    risk: medium\n'
        "    levels:\n      a: {budget: 10s, steps: [{run: [x]}]}\n      b: {budget: 15m, steps: [{run: [x]}]}\n"
        "      c: {budget: 1h, steps: [{run: [x]}]}\n      d: {budget: 42, steps: [{run: [x]}]}\n"
    )
    runbook = parse_runbook(text, "t", Path("/srv"))
    assert [level.budget for level in runbook.phases["p"].levels.values()] == [10, 900, 3600, 42]
    assert runbook.repo == Path("/srv")


def test_two_approval_levels_need_a_named_approver_role() -> None:
    base = 'version: 1\nservice: svc\nrepo: .\nalert_channel: "#a"\n'
    access = "access: {roles: {operator: {users: [U1]}}, default: operator}\n"
    level = "phases:\n  p3:\n    title: T\n    risk: high\n    levels:\n      l3: {budget: 1h, approvals: 2, steps: [{run: [x]}]}\n"
    (problem,) = problems_of(base + access + level)
    assert problem[0].startswith("access.actions")
    assert problem[1] == "p3 l3 needs two approvals: name the approver role, e.g. `approve: approver`"
    narrowed = "access: {roles: {operator: {users: [U1]}}, actions: {incident/p3: operator}}\n"
    assert "cannot be narrowed" in problems_of(base + narrowed + level)[0][1]
