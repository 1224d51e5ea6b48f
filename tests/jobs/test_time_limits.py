"""Step timeouts kill the whole process group; a level's budget is an overall deadline."""

from __future__ import annotations

import sys
from pathlib import Path

from jobs.context import Context
from jobs.records.locks import holder
from jobs.records.runs import RunRecord
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import create_run, enqueue_job
from jobs.runs.plan import select, with_checkpoint
from tests.conftest import pid_alive, run_worker, wait_for, write_runbook
from tests.support.runs import SPAWNER, preflight


def roll_back(ctx: Context, env: dict[str, str], repo: Path, steps: str, budget: str = "30m") -> RunRecord:
    runbook_path = write_runbook(Path(env["RUNBOOK"]), repo, steps=steps, budget=budget)
    preflight(ctx, runbook_path)
    runbook = load_runbook(runbook_path)
    plan = with_checkpoint(select(runbook, "rollback", "phase2"), ctx.checkpoints.get("sandbox", "phase2"))
    record = enqueue_job(ctx, create_run(ctx, plan, "U1", queued_for_workers=True))
    run_worker(env)
    return ctx.runs.get(record.run_id)


def test_step_past_its_timeout_is_killed_with_its_children(ctx: Context, env: dict[str, str], repo: Path) -> None:
    script = repo.parent / "spawner.py"
    script.write_text(SPAWNER.format())
    pids = repo.parent / "pids.txt"
    record = roll_back(ctx, env, repo, f"""\
        - name: hangs
          run: [{sys.executable}, {script}, {pids}]
          timeout: 2s
        - name: never reached
          run: ["true"]
        """)  # fmt: skip

    assert record.status == "timed_out"
    reset, hung, skipped = record.steps
    assert reset.status == "succeeded"
    assert hung.status == "timed_out" and "step timeout" in (hung.detail or "")
    assert 2 <= (hung.duration or 0) < 30
    assert "spawned" in hung.output_tail
    assert skipped.status == "skipped"
    grandchild = int(pids.read_text())
    wait_for(lambda: not pid_alive(grandchild), timeout=10, message="the step's child to die")
    assert holder(ctx.redis, ctx.keys, "sandbox") is None


def test_level_outlasting_its_budget_ends_budget_exceeded(ctx: Context, env: dict[str, str], repo: Path) -> None:
    record = roll_back(ctx, env, repo, budget="3s", steps="""\
        - name: slow deploy
          run: [sleep, "1.5"]
        - name: slower smoke test
          run: [sleep, "30"]
        - name: never reached
          run: ["true"]
        """)  # fmt: skip

    assert record.status == "budget_exceeded"
    assert record.elapsed is not None and 3 <= record.elapsed < 30
    statuses = [s.status for s in record.steps]
    assert statuses == ["succeeded", "succeeded", "budget_exceeded", "skipped"]
    assert "3s budget ran out" in (record.steps[2].detail or "")
    assert holder(ctx.redis, ctx.keys, "sandbox") is None


def test_failing_step_stops_the_run_unless_it_may_continue(ctx: Context, env: dict[str, str], repo: Path) -> None:
    record = roll_back(ctx, env, repo, """\
        - name: optional notification
          run: [sh, -c, "echo no webhook; exit 3"]
          continue_on_failure: true
        - name: deploy
          run: [sh, -c, "echo deploy broke >&2; exit 1"]
        - name: never reached
          run: ["true"]
        """)  # fmt: skip

    assert record.status == "failed"
    _, optional, deploy, skipped = record.steps
    assert optional.status == "failed" and optional.exit_code == 3
    assert deploy.status == "failed" and deploy.exit_code == 1 and "deploy broke" in deploy.output_tail
    assert skipped.status == "skipped"
    assert holder(ctx.redis, ctx.keys, "sandbox") is None


def test_missing_program_fails_the_step_clearly(ctx: Context, env: dict[str, str], repo: Path) -> None:
    record = roll_back(ctx, env, repo, "- run: [no-such-program-anywhere]\n")
    assert record.status == "failed"
    assert record.steps[1].exit_code == 127 and "cannot start no-such-program-anywhere" in record.steps[1].output_tail
