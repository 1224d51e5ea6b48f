"""Usual durations in the terminal: under the plan, and the live line of the running step (one line
per step when the output is not a terminal)."""

from __future__ import annotations

from pathlib import Path

from jobs.context import Context
from tests.support.cli import rollbot
from tests.support.runs import ready_repo

STEPS = "- name: Restart staging services\n  run: [sleep, '0.3']\n  rehearse: run\n"


def test_eta_is_absent_before_history_and_shown_after(ctx: Context, env: dict[str, str], repo: Path) -> None:
    ready_repo(ctx, env, repo, steps=STEPS)

    before = rollbot(env, "rollback", "phase2", "--dry-run")
    assert before.returncode == 0, before.stderr
    assert "2. Restart staging services: no history yet" in before.stdout and "usually" not in before.stdout
    assert "Expected total: no history yet (2 of 2 steps never ran) · budget 30m" in before.stdout

    done = rollbot(env, "rollback", "phase2", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    live = [line for line in done.stdout.splitlines() if line.startswith("▶ [2/2] Restart staging services")]
    assert len(live) == 1 and "elapsed · no history yet · budget left" in live[0]

    after = rollbot(env, "rollback", "phase2", "--dry-run")
    assert "2. Restart staging services: usually 0." in after.stdout and ", 1 run)" in after.stdout
    assert "Expected total: " in after.stdout and "of the 30m budget" in after.stdout

    rehearsal = rollbot(env, "rehearse", "phase2")
    assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr
    live = [line for line in rehearsal.stdout.splitlines() if line.startswith("▶ [2/2] Restart staging services")]
    assert len(live) == 1 and "· usually 0." in live[0]
    assert "Real run: Expected total:" in rehearsal.stdout


def test_a_level_expected_to_exceed_its_budget_says_so_and_names_the_next_level(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    ready_repo(ctx, env, repo, steps="- name: Slow restart\n  run: [sleep, '1.2']\n  rehearse: run\n", budget="1s")
    ctx.redis.lpush(ctx.keys.step_durations("sandbox", "phase2", "immediate", "git.reset_to_checkpoint"), "0.1")
    ctx.redis.lpush(ctx.keys.step_durations("sandbox", "phase2", "immediate", "Slow restart"), "1.2")

    plan = rollbot(env, "rollback", "phase2", "--dry-run")
    assert "⚠️ Expected total 1.3s EXCEEDS the 1s budget" in plan.stdout

    rehearsal = rollbot(env, "rehearse", "phase2")
    assert rehearsal.returncode == 1
    assert "NOT READY" in rehearsal.stdout
