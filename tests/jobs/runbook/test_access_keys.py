"""`access.actions` keys narrowed to a phase or level must name ones the runbook has."""

from __future__ import annotations

from pathlib import Path

from jobs.runbook.loader import parse_runbook
from tests.support.cli import rollbot
from tests.support.runbooks import problems_of

HEAD = 'version: 1\nservice: svc\nrepo: .\nalert_channel: "#a"\n'
PHASES = """\
phases:
  p1: {title: Analysis, risk: minimal, analysis_only: true}
  p2:
    title: T
    risk: medium
    levels:
      immediate: {budget: 30m, steps: [{run: [x]}]}
      deep: {budget: 1h, approvals: 2, steps: [{run: [x]}]}
"""


def access(actions: str) -> str:
    return f"access:\n  roles: {{operator: {{users: [U1]}}, lead: {{users: [U2]}}}}\n  actions:\n{actions}"


def test_keys_naming_existing_phases_and_levels_load() -> None:
    actions = "    approve: lead\n    rollback/p2: lead\n    rollback/p2/deep: lead\n    preflight/p1: operator\n"
    runbook = parse_runbook(HEAD + access(actions) + PHASES, "t.yaml", Path("/srv"))
    assert runbook.access is not None and runbook.access.actions["rollback/p2/deep"] == "lead"


def test_keys_naming_a_missing_phase_or_level_are_errors_with_their_yaml_path() -> None:
    actions = (
        "    approve: lead\n"
        "    rollback/phase9: lead\n"  # line 9
        "    rollback/p2/level3: lead\n"
        "    validate/p1/immediate: operator\n"  # p1 has no levels at all
        "    cancel/p2/immediate: operator\n"  # fine
    )
    problems = problems_of(HEAD + access(actions) + PHASES)
    assert problems == [
        ("access.actions.rollback/phase9 (line 9)", "phase 'phase9' does not exist (phases: p1, p2)"),
        (
            "access.actions.rollback/p2/level3 (line 10)",
            "level 'level3' does not exist in p2 (levels: immediate, deep)",
        ),
        ("access.actions.validate/p1/immediate (line 11)", "level 'immediate' does not exist in p1 (levels: none)"),
    ]


def test_runbook_check_names_the_bad_key(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(HEAD + access("    approve: lead\n    rollback/p3/level3: lead\n") + PHASES)
    done = rollbot(env, "runbook", "check", str(path))
    assert done.returncode == 1 and done.stdout == ""
    assert "access.actions.rollback/p3/level3 (line 9): phase 'p3' does not exist (phases: p1, p2)" in done.stderr
