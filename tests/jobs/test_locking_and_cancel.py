"""One rollback at a time per service; cancel and crashes never leave a run or the lock behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from jobs.context import Context
from jobs.core.exceptions import RunInProgressError
from jobs.records.locks import holder
from jobs.records.runs import RunRecord
from jobs.runs.enqueue import create_run, enqueue_job, enqueue_run
from jobs.runs.lifecycle import cancel_run, sweep_interrupted
from jobs.runs.plan import select
from tests.conftest import ROLLBOT, pid_alive, run_worker, start_worker, stop_worker, wait_for, write_runbook
from tests.standins.slack import SlackStandIn
from tests.support.runs import hanging_step, rollback_plan, running_step, worker

__all__ = ["hanging_step", "worker"]  # the fixture (tests/support/runs.py), shared with the crash tests


def start_hanging_rollback(
    ctx: Context, env: dict[str, str], repo: Path, hanging_step: tuple[str, Path]
) -> tuple[subprocess.Popen[str], RunRecord, int]:
    """A background worker running a rollback whose second step hangs; returns the worker, the
    record as it runs, and the pid of the step's child process.
    """
    steps, pids = hanging_step
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, steps), "U1")
    proc = start_worker(env)
    running = running_step(ctx, record.run_id, pids)
    assert running.pid is not None
    return proc, running, int(pids.read_text())


def test_two_rollbacks_enqueued_at_once_one_runs_the_other_is_refused(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    plan = rollback_plan(ctx, env, repo, "- name: deploy\n  run: [sleep, '3']\n")
    # As if two web processes raced past the busy check: the lock in the job decides.
    first = enqueue_job(ctx, create_run(ctx, plan, "U1", queued_for_workers=True))
    second = enqueue_job(ctx, create_run(ctx, plan, "U2", queued_for_workers=True))
    workers = [start_worker(env, "--burst") for _ in range(2)]
    for proc in workers:
        proc.wait(timeout=90)
        stop_worker(proc)

    records = {r.run_id: r for r in (ctx.runs.get(first.run_id), ctx.runs.get(second.run_id))}
    statuses = sorted(r.status for r in records.values())
    assert statuses == ["refused", "succeeded"], records
    winner = next(r for r in records.values() if r.status == "succeeded")
    loser = next(r for r in records.values() if r.status == "refused")
    assert loser.holder_run_id == winner.run_id
    assert winner.run_id in (loser.error or "") and loser.steps == []
    assert holder(ctx.redis, ctx.keys, "sandbox") is None


def test_busy_service_is_refused_at_enqueue_and_nothing_is_queued(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    plan = rollback_plan(ctx, env, repo, "")
    first = enqueue_run(ctx, plan, "U1")
    with pytest.raises(RunInProgressError, match=first.run_id):
        enqueue_run(ctx, plan, "U2")
    assert [r.run_id for r in ctx.runs.active()] == [first.run_id]


def test_cancel_running_rollback_kills_its_process_group(
    slack: SlackStandIn,
    ctx: Context,
    env: dict[str, str],
    repo: Path,
    hanging_step: tuple[str, Path],
    worker: list[subprocess.Popen[str]],
) -> None:
    proc, record, grandchild = start_hanging_rollback(ctx, env, repo, hanging_step)
    worker.append(proc)
    step = record.current_step
    assert step is not None and step.pgid is not None

    cancel_run(ctx, record.run_id, "U0456LEAD")

    final = wait_for(
        lambda: (r := ctx.runs.get(record.run_id)).status == "cancelled" and r,
        timeout=30,
        message="cancelled",
    )
    assert final.cancelled_by == "U0456LEAD"
    assert final.steps[1].status == "cancelled"
    wait_for(lambda: not pid_alive(grandchild) and not pid_alive(step.pgid or 0), timeout=10, message="steps dead")
    wait_for(lambda: holder(ctx.redis, ctx.keys, "sandbox") is None, timeout=10, message="lock released")
    # The channel is told, though the process that kept it up to date was killed with the run.
    slack.wait_for(lambda calls: any((c.params.get("metadata") or {}).get("event_payload", {}).get("status")
                                     == "cancelled" for c in calls if c.status == 200))  # fmt: skip
    # The worker survives a cancel and takes the next run.
    again = enqueue_run(ctx, rollback_plan(ctx, env, repo, ""), "U1")
    wait_for(lambda: ctx.runs.get(again.run_id).status == "succeeded", timeout=30, message="next run")


def test_cancel_queued_run_means_it_never_runs(ctx: Context, env: dict[str, str], repo: Path) -> None:
    bad = (repo / "app.txt").read_text()
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, ""), "U1")
    cancelled = cancel_run(ctx, record.run_id, "U2")
    assert cancelled.status == "cancelled" and cancelled.cancelled_by == "U2"
    run_worker(env)
    assert ctx.runs.get(record.run_id).status == "cancelled"
    assert (repo / "app.txt").read_text() == bad
    with pytest.raises(Exception, match="already ended"):
        cancel_run(ctx, record.run_id, "U2")


def test_killed_work_horse_leaves_the_run_interrupted_and_the_lock_free(
    ctx: Context,
    env: dict[str, str],
    repo: Path,
    hanging_step: tuple[str, Path],
    worker: list[subprocess.Popen[str]],
) -> None:
    proc, record, grandchild = start_hanging_rollback(ctx, env, repo, hanging_step)
    worker.append(proc)

    os.kill(record.pid or 0, signal.SIGKILL)  # the work horse: OOM killer, segfault…

    final = wait_for(
        lambda: (r := ctx.runs.get(record.run_id)).status == "interrupted" and r,
        timeout=30,
        message="interrupted",
    )
    assert final.steps[1].status == "interrupted"
    wait_for(lambda: not pid_alive(grandchild), timeout=10, message="step processes dead")
    assert holder(ctx.redis, ctx.keys, "sandbox") is None


@pytest.mark.parametrize("found_by", ["next worker", "next rollback"])
def test_sigkilled_worker_leaves_the_run_interrupted_and_the_lock_free(
    ctx: Context,
    env: dict[str, str],
    repo: Path,
    hanging_step: tuple[str, Path],
    worker: list[subprocess.Popen[str]],
    found_by: str,
) -> None:
    proc, record, grandchild = start_hanging_rollback(ctx, env, repo, hanging_step)
    worker.append(proc)

    # The whole worker dies at once (host trouble): nobody is left to clean up.
    proc.send_signal(signal.SIGKILL)
    os.kill(record.pid or 0, signal.SIGKILL)
    proc.wait(timeout=10)
    assert ctx.runs.get(record.run_id).status == "running"

    # Once the lease expires, the next worker (or any lock request) finds the run abandoned.
    wait_for(lambda: not ctx.redis.exists(ctx.keys.run_lease(record.run_id)), timeout=15, message="lease expiry")
    started = time.monotonic()
    if found_by == "next worker":
        run_worker(env)
    else:  # break-glass from a terminal: the dead holder is cleaned up, not waited out
        write_runbook(Path(env["RUNBOOK"]), repo)  # this time without the hanging step
        done = subprocess.run([ROLLBOT, "rollback", "phase2", "--yes"], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    final = ctx.runs.get(record.run_id)
    assert final.status == "interrupted" and final.steps[1].status == "interrupted"
    assert holder(ctx.redis, ctx.keys, "sandbox") is None
    wait_for(lambda: not pid_alive(grandchild), timeout=10, message="leftover step processes killed")
    assert time.monotonic() - started < 60


def cli_rollback(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([ROLLBOT, "rollback", "phase2", "--yes"], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_cancel_reaches_a_terminal_run_between_quick_steps(ctx: Context, env: dict[str, str], repo: Path) -> None:
    rollback_plan(ctx, env, repo, "- run: [sleep, '0.03']\n" * 150)
    proc = cli_rollback(env)
    running = wait_for(lambda: next((r for r in ctx.runs.active() if r.status == "running"), None), timeout=30,
                       message="the terminal run to start")  # fmt: skip
    cancel_run(ctx, running.run_id, "U0LEAD")
    _out, err = proc.communicate(timeout=60)
    final = ctx.runs.get(running.run_id)
    assert proc.returncode == 1, err
    assert final.status == "cancelled" and final.cancelled_by == "U0LEAD"
    assert final.steps[-1].status == "skipped"
    assert holder(ctx.redis, ctx.keys, "sandbox") is None


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_closed_terminal_cancels_its_run_and_kills_the_step(
    ctx: Context, env: dict[str, str], repo: Path, hanging_step: tuple[str, Path], signum: int
) -> None:
    steps, pids = hanging_step
    rollback_plan(ctx, env, repo, steps)
    proc = cli_rollback(env)
    running = wait_for(lambda: next((r for r in ctx.runs.active() if r.current_step and r.current_step.pgid), None),
                       timeout=30, message="the long step to start")  # fmt: skip
    wait_for(lambda: pids.exists() and pids.read_text(), timeout=10, message="the step's child")
    grandchild = int(pids.read_text())

    proc.send_signal(signum)  # the ssh session dropped, or someone ran kill

    assert proc.wait(timeout=30) == 130
    final = ctx.runs.get(running.run_id)
    assert final.status == "cancelled" and "terminal" in (final.error or "")
    assert holder(ctx.redis, ctx.keys, "sandbox") is None
    wait_for(lambda: not pid_alive(grandchild), timeout=10, message="the step's child to die")


def test_queued_run_whose_job_vanished_is_ended_and_frees_the_service(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    plan = rollback_plan(ctx, env, repo, "")
    stranded = enqueue_run(ctx, plan, "U1")
    ctx.redis.delete(f"rq:job:{stranded.run_id}")  # lost with a flushed or failed-over Redis, say
    with pytest.raises(RunInProgressError):
        enqueue_run(ctx, plan, "U2")
    assert sweep_interrupted(ctx) == [stranded.run_id]
    final = ctx.runs.get(stranded.run_id)
    assert final.status == "interrupted" and "disappeared" in (final.error or "")
    assert enqueue_run(ctx, plan, "U2").status == "queued"


def test_a_validation_never_blocks_a_rollback(ctx: Context, env: dict[str, str], repo: Path) -> None:
    plan = rollback_plan(ctx, env, repo, "")
    validation = enqueue_run(ctx, select(plan.runbook, "validation", "phase2"), "U1")
    rollback = enqueue_run(ctx, plan, "U1")
    assert {validation.status, rollback.status} == {"queued"}
    with pytest.raises(RunInProgressError, match=rollback.run_id):
        enqueue_run(ctx, select(plan.runbook, "preflight", "phase2"), "U1")  # same lane as the rollback
