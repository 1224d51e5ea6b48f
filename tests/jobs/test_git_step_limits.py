"""The built-in git steps obey the level's budget and cancel like command steps: a hung git command
(here a `post-checkout` hook that sleeps) is killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.context import Context
from jobs.records.locks import holder
from jobs.records.runs import RunRecord
from jobs.runbook.loader import load_runbook
from jobs.runbook.model import Runbook
from jobs.runs.enqueue import create_run, enqueue_job
from jobs.runs.lifecycle import cancel_run
from jobs.runs.plan import select, with_checkpoint
from jobs.runs.runner import execute_run
from tests.conftest import git, pid_alive, start_worker, stop_worker, wait_for, write_runbook
from tests.support.runs import preflight

HOOK = "#!/bin/sh\necho $$ > {pidfile}\nexec sleep 60\n"  # the shell becomes the sleep: its pid is the sleep's


@pytest.fixture
def hook_pidfile(tmp_path: Path) -> Iterator[Path]:
    """Where the hanging hook writes its pid; whatever is left of it is killed after the test."""
    pidfile = tmp_path / "hook.pid"
    yield pidfile
    with contextlib.suppress(ValueError, OSError):
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


def hung_reset(
    ctx: Context, env: dict[str, str], repo: Path, pidfile: Path, budget: str, for_workers: bool = False
) -> tuple[Runbook, str]:
    """Checkpoint taken (the repo is left on the preflight's branch), then a `post-checkout` hook that
    hangs: the reset's `git checkout main` never returns on its own. Returns the runbook and a queued
    rollback run (with its RQ job when `for_workers`).
    """
    path = write_runbook(Path(env["RUNBOOK"]), repo, budget=budget)
    preflight(ctx, path)
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(HOOK.format(pidfile=pidfile))
    hook.chmod(0o755)
    runbook = load_runbook(path)
    plan = with_checkpoint(select(runbook, "rollback", "phase2"), ctx.checkpoints.get("sandbox", "phase2"))
    record = create_run(ctx, plan, "U0ONCALL", queued_for_workers=for_workers)
    if for_workers:
        enqueue_job(ctx, record)
    return runbook, record.run_id


def wait_until_hung(ctx: Context, run_id: str, pidfile: Path) -> RunRecord:
    """The run, once its reset step hangs in the hook (with the git command's group recorded)."""

    def hung() -> RunRecord | None:
        record = ctx.runs.get(run_id)
        step = record.current_step
        return record if step is not None and step.pgid and pidfile.exists() and pidfile.read_text() else None

    running: RunRecord = wait_for(hung, timeout=30, message="the checkout to hang in its hook")
    return running


def test_a_hung_git_command_ends_budget_exceeded_and_its_hook_is_killed(
    ctx: Context, env: dict[str, str], repo: Path, hook_pidfile: Path
) -> None:
    runbook, run_id = hung_reset(ctx, env, repo, hook_pidfile, budget="2s")

    started = time.monotonic()
    final = execute_run(ctx, run_id, runbook)
    took = time.monotonic() - started

    assert final.status == "budget_exceeded"
    (reset,) = final.steps
    assert reset.status == "budget_exceeded"
    assert "git checkout main" in (reset.detail or "") and "2s budget ran out" in (reset.detail or "")
    assert took < 15, f"the 2s budget ended the run after {took:.1f}s"
    hook_pid = int(hook_pidfile.read_text())
    wait_for(lambda: not pid_alive(hook_pid), timeout=5, message="the hook's sleep to be killed")
    assert holder(ctx.redis, ctx.keys, "sandbox") is None


def test_cancel_during_a_hung_git_command_ends_it_cancelled(
    ctx: Context, env: dict[str, str], repo: Path, hook_pidfile: Path
) -> None:
    runbook, run_id = hung_reset(ctx, env, repo, hook_pidfile, budget="30m")
    result: list[RunRecord] = []
    runner = threading.Thread(target=lambda: result.append(execute_run(ctx, run_id, runbook)), daemon=True)
    runner.start()

    running = wait_until_hung(ctx, run_id, hook_pidfile)
    hook_pid = int(hook_pidfile.read_text())
    step = running.current_step
    assert step is not None and step.pgid == os.getpgid(hook_pid), "the git command's group is recorded"

    cancel_run(ctx, run_id, "U0LEAD")
    runner.join(timeout=15)

    assert result, "the run was still hung 15s after the cancel"
    final = result[0]
    assert final.status == "cancelled" and final.cancelled_by == "U0LEAD"
    assert final.steps[0].status == "cancelled" and "cancelled by U0LEAD" in (final.steps[0].detail or "")
    wait_for(lambda: not pid_alive(hook_pid), timeout=5, message="the hook's sleep to be killed")
    assert git(repo, "status", "--porcelain") == ""
    assert holder(ctx.redis, ctx.keys, "sandbox") is None


def test_cancel_from_slack_during_a_hung_git_command_on_a_worker(
    ctx: Context, env: dict[str, str], repo: Path, hook_pidfile: Path
) -> None:
    _runbook, run_id = hung_reset(ctx, env, repo, hook_pidfile, budget="30m", for_workers=True)
    worker = start_worker(env)
    try:
        wait_until_hung(ctx, run_id, hook_pidfile)
        hook_pid = int(hook_pidfile.read_text())

        cancel_run(ctx, run_id, "U0LEAD")

        final = wait_for(lambda: (r := ctx.runs.get(run_id)).status == "cancelled" and r, 20, "the run cancelled")
        assert final.steps[0].status == "cancelled"
        wait_for(lambda: not pid_alive(hook_pid), timeout=10, message="the hook's sleep to be killed")
        wait_for(lambda: holder(ctx.redis, ctx.keys, "sandbox") is None, timeout=10, message="lock released")
    finally:
        stop_worker(worker)
