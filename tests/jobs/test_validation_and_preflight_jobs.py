"""Preflight and validation as RQ jobs on their queues; a validation reports every failing check."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from jobs.context import Context
from jobs.factory import get_queue
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import enqueue_run
from jobs.runs.plan import select
from tests.conftest import CHECKLIST, ROLLBOT, git, run_worker, write_runbook

CHECKLIST_WITH_FAILING_CHECK = (
    CHECKLIST
    + """\
  - name: "Database Connectivity"
    run: [sh, -c, "echo postgres unreachable; exit 2"]
"""
)


def test_preflight_and_validation_run_on_their_queues(ctx: Context, env: dict[str, str], repo: Path) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo)
    path.write_text(path.read_text().replace("phases:\n", CHECKLIST_WITH_FAILING_CHECK + "phases:\n", 1))
    runbook = load_runbook(path)

    preflight = enqueue_run(ctx, select(runbook, "preflight", "phase2"), "U1")
    assert get_queue("rollback").job_ids == [preflight.run_id]
    run_worker(env)
    assert ctx.runs.get(preflight.run_id).status == "succeeded"
    assert ctx.checkpoints.get("sandbox", "phase2") is not None

    validation = enqueue_run(ctx, select(runbook, "validation", "phase2"), "U1")
    assert get_queue("validation").job_ids == [validation.run_id]
    run_worker(env)
    record = ctx.runs.get(validation.run_id)
    # The phase's check, then the checklist's commands; every check runs even after a failure.
    assert [(s.title, s.status) for s in record.steps] == [
        ("imports work", "succeeded"),
        ("Tool Dispatcher: All factory patterns working", "succeeded"),
        ("Database Connectivity", "failed"),
    ]
    assert record.status == "failed" and "postgres unreachable" in record.steps[2].output_tail


def test_validate_from_the_terminal_lists_what_people_must_verify(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo)
    path.write_text(path.read_text().replace("phases:\n", CHECKLIST_WITH_FAILING_CHECK + "phases:\n", 1))
    done = subprocess.run([ROLLBOT, "validate"], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert done.returncode == 1
    assert "✅ [1/2] Tool Dispatcher: All factory patterns working" in done.stdout
    assert "❌ [2/2] Database Connectivity" in done.stdout
    assert "Verify by hand:\n  [ ] User Authentication: Login flow working end-to-end" in done.stdout
    assert git(repo, "status", "--porcelain") == ""
