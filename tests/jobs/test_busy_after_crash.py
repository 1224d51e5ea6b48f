"""A run whose worker died (its lease expired) never keeps the service busy: the next request
ends it `interrupted` and is accepted, without waiting for a sweep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.context import Context
from jobs.core.exceptions import RunInProgressError
from jobs.records.locks import holder
from jobs.runs.enqueue import create_run, enqueue_run
from jobs.runs.lifecycle import STRANDED_AFTER_SECONDS
from jobs.runs.plan import select
from tests.conftest import pid_alive, start_worker, wait_for
from tests.support.runs import hanging_step, rollback_plan, running_step, worker

__all__ = ["hanging_step", "worker"]  # the fixture, shared with the locking tests


def test_a_run_whose_worker_was_killed_does_not_block_the_next_request(
    ctx: Context,
    env: dict[str, str],
    repo: Path,
    hanging_step: tuple[str, Path],
    worker: list[subprocess.Popen[str]],
) -> None:
    steps, pids = hanging_step
    plan = rollback_plan(ctx, env, repo, steps)
    crashed = enqueue_run(ctx, plan, "U0ONCALL")
    proc = start_worker(env)
    worker.append(proc)
    running = running_step(ctx, crashed.run_id, pids)
    grandchild = int(pids.read_text())

    # The host loses the worker: its process group and its work horse's (RQ gives the horse its own)
    # die at once, with no chance to clean up. The step's processes, in their own session, live on.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.pid or 0, signal.SIGKILL)
    proc.wait(timeout=10)
    wait_for(lambda: not ctx.redis.exists(ctx.keys.run_lease(crashed.run_id)), timeout=15, message="lease expiry")
    assert ctx.runs.get(crashed.run_id).status == "running", "nobody has noticed the crash yet"

    accepted = enqueue_run(ctx, plan, "U0LEAD")

    assert accepted.status == "queued"
    assert [r.run_id for r in ctx.runs.active()] == [accepted.run_id]
    final = ctx.runs.get(crashed.run_id)
    assert final.status == "interrupted" and "stopped answering" in (final.error or "")
    assert final.steps[1].status == "interrupted"
    assert holder(ctx.redis, ctx.keys, "sandbox") is None
    wait_for(lambda: not pid_alive(grandchild), timeout=10, message="the dead run's step processes killed")


def test_a_live_run_still_makes_the_service_busy(ctx: Context, env: dict[str, str], repo: Path) -> None:
    plan = rollback_plan(ctx, env, repo, "")
    first = enqueue_run(ctx, plan, "U0ONCALL")
    with pytest.raises(RunInProgressError, match=first.run_id):
        enqueue_run(ctx, plan, "U0LEAD")
    assert ctx.runs.get(first.run_id).status == "queued"


def test_a_terminal_run_that_never_started_does_not_block_the_next_request(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    plan = rollback_plan(ctx, env, repo, "")
    old = Context(ctx.redis, ctx.keys, ctx.settings, ctx.redactor,
                  clock=lambda: ctx.clock() - timedelta(seconds=STRANDED_AFTER_SECONDS + 60))  # fmt: skip
    stranded = create_run(old, select(plan.runbook, "rollback", "phase2"), "cli:oncall")  # its terminal closed

    accepted = enqueue_run(ctx, plan, "U0LEAD")

    assert accepted.status == "queued"
    final = ctx.runs.get(stranded.run_id)
    assert final.status == "interrupted" and "terminal" in (final.error or "")
