"""Rehearsals from the terminal: real git, Redis and `rollbot rehearse` in its own process; the
real checkout is compared byte for byte before and after."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from jobs.context import Context
from jobs.core.redis_values import text
from jobs.records import audit
from tests.conftest import git, wait_for, write_runbook
from tests.standins.pagerduty import PagerDutyStandIn
from tests.support.cli import rollbot, start_rollbot
from tests.support.rehearsals import marker_step, no_scratch_left, ready, scratch_root, snapshot


def test_rehearse_is_ready_and_leaves_the_real_checkout_untouched(
    ctx: Context, env: dict[str, str], repo: Path, tmp_path: Path, pagerduty: PagerDutyStandIn
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    steps = marker_step("rehearsed", marks, "run") + marker_step("deploy", marks, None)
    _good, bad = ready(ctx, env, repo, steps)
    before = snapshot(repo)

    done = rollbot(env, "rehearse", "phase2")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "READY" in done.stdout and "NOT READY" not in done.stdout
    assert git(repo, "rev-parse", "HEAD") == bad
    assert snapshot(repo) == before
    assert (marks / "rehearsed").read_text() == "ran\n"  # once
    assert not (marks / "deploy").exists()  # an unmarked `run` step is skipped
    assert no_scratch_left(env)
    record = ctx.runs.recent(1)[0]
    assert record.rehearsal and record.status == "succeeded" and record.run_id.startswith("rh-")
    assert [s.status for s in record.steps] == ["succeeded", "succeeded", "skipped"]
    assert "found at" in (record.steps[2].detail or "")
    actions = [e.action for e in audit.read(ctx.redis, ctx.keys) if e.run_id == record.run_id]
    assert actions[:2] == ["rehearsal.request", "rehearsal.start"] and actions[-1] == "rehearsal.end"
    assert ctx.redis.get(ctx.keys.service_lock("sandbox")) is None  # no lock taken
    time.sleep(0.5)
    assert not pagerduty.events()  # never pages


def test_a_failing_rehearse_step_exits_non_zero_and_changes_nothing(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    steps = f"- name: Smoke test\n  run: [{sys.executable}, -c, 'raise SystemExit(3)']\n  rehearse: run\n"
    _good, bad = ready(ctx, env, repo, steps)
    before = snapshot(repo)

    done = rollbot(env, "rehearse", "phase2", "immediate")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT READY" in done.stdout and "exit code 3" in done.stdout
    assert snapshot(repo) == before and git(repo, "rev-parse", "HEAD") == bad
    assert no_scratch_left(env)
    assert ctx.runs.recent(1)[0].status == "failed"


def test_a_renamed_script_makes_the_level_not_ready(ctx: Context, env: dict[str, str], repo: Path) -> None:
    scripts = repo / "scripts"
    scripts.mkdir()
    (scripts / "deploy-staging.sh").write_text("#!/bin/sh\necho deployed\n")
    (scripts / "deploy-staging.sh").chmod(0o755)
    git(repo, "add", "scripts")
    git(repo, "commit", "-q", "-m", "deploy script")
    ready(ctx, env, repo, "- name: Emergency staging deployment\n  run: [./scripts/deploy.sh, --staging]\n")
    before = snapshot(repo)

    done = rollbot(env, "rehearse", "phase2")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT READY" in done.stdout and "`./scripts/deploy.sh` not found" in done.stdout
    assert snapshot(repo) == before and no_scratch_left(env)


def test_no_checkpoint_says_which_preflight_to_run(ctx: Context, env: dict[str, str], repo: Path) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)

    done = rollbot(env, "rehearse", "phase2")

    assert done.returncode == 1
    assert "/preflight phase2" in done.stderr and "rollbot preflight phase2" in done.stderr
    assert not ctx.runs.recent(1)  # nothing was started


def test_a_cancelled_rehearsal_leaves_nothing_behind(ctx: Context, env: dict[str, str], repo: Path) -> None:
    steps = "- name: Slow smoke test\n  run: [sleep, '30']\n  rehearse: run\n"
    ready(ctx, env, repo, steps)
    before = snapshot(repo)
    proc = start_rollbot(env, "rehearse", "phase2")
    try:
        run_id = wait_for(lambda: next((r.run_id for r in ctx.runs.active() if r.rehearsal and r.current_step
                                        and r.current_step.index == 1), None), message="the slow step")  # fmt: skip
        assert any(scratch_root(env).iterdir())  # the clone exists while it runs
        assert rollbot(env, "cancel", run_id).returncode == 0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out + err
    assert ctx.runs.get(run_id).status == "cancelled"
    assert snapshot(repo) == before and no_scratch_left(env)


def test_a_rehearsal_runs_while_a_real_rollback_holds_the_lock(ctx: Context, env: dict[str, str], repo: Path) -> None:
    steps = "- name: Restart staging services\n  run: [sleep, '4']\n  rehearse: [sleep, '0.1']\n"
    good, _bad = ready(ctx, env, repo, steps)
    real = start_rollbot(env, "rollback", "phase2", "--yes")
    try:
        holder = wait_for(lambda: ctx.redis.get(ctx.keys.service_lock("sandbox")), message="the real run's lock")
        rehearsal = rollbot(env, "rehearse", "phase2")
        assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr
        assert ctx.redis.get(ctx.keys.service_lock("sandbox")) == holder  # untouched, still the real run's
        real_run = ctx.runs.get(text(holder))
        assert real_run.status == "running" and not real_run.rehearsal
        out, err = real.communicate(timeout=60)
    finally:
        if real.poll() is None:
            real.send_signal(signal.SIGINT)
            real.wait(timeout=30)
    assert real.returncode == 0, out + err
    assert git(repo, "rev-parse", "HEAD") == good  # the real rollback did its work
    assert ctx.runs.get(text(holder)).status == "succeeded"


def test_a_rehearsal_step_cannot_push_to_the_real_repository(ctx: Context, env: dict[str, str], repo: Path) -> None:
    steps = "- name: Publish\n  run: [git, push, origin, 'HEAD:refs/heads/from-rehearsal']\n  rehearse: run\n"
    ready(ctx, env, repo, steps)
    before = snapshot(repo)

    done = rollbot(env, "rehearse", "phase2")

    assert done.returncode == 1 and "NOT READY" in done.stdout
    assert snapshot(repo) == before and no_scratch_left(env)
