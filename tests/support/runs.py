"""Making runs the way several test modules need them: phase2's preflight (the checkpoint) in this
process, a repository with bad commits after the checkpoint, rollback plans, a step that hangs (the
`hanging_step` fixture: import it into the test module), and phase3 with a failing deploy.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from jobs.context import Context
from jobs.records.runs import RunRecord
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import Origin, create_run, enqueue_run
from jobs.runs.plan import Plan, select, with_checkpoint
from jobs.runs.runner import execute_run
from tests.conftest import ONCALL, commit, git, stop_worker, wait_for, write_runbook


def preflight(ctx: Context, runbook_path: Path, clock: datetime | None = None) -> str:
    """Run phase2's preflight in this process (the CLI path) with an injected clock."""
    if clock is not None:
        ctx = Context(ctx.redis, ctx.keys, ctx.settings, ctx.redactor, clock=lambda: clock)
    runbook = load_runbook(runbook_path)
    record = create_run(ctx, select(runbook, "preflight", "phase2"), "cli:test")
    final = execute_run(ctx, record.run_id, runbook)
    assert final.status == "succeeded", final
    return final.run_id


def ready_repo(ctx: Context, env: dict[str, str], repo: Path, **runbook: Any) -> tuple[str, str]:
    """Runbook written, checkpoint taken, two bad commits on main; returns (good, bad) commits."""
    path = write_runbook(Path(env["RUNBOOK"]), repo, **runbook)
    good = git(repo, "rev-parse", "HEAD")
    preflight(ctx, path)
    git(repo, "checkout", "-q", "main")
    commit(repo, "bad 1")
    return good, commit(repo, "bad 2")


def rollback_plan(ctx: Context, env: dict[str, str], repo: Path, steps: str) -> Plan:
    runbook_path = write_runbook(Path(env["RUNBOOK"]), repo, steps=steps)
    preflight(ctx, runbook_path)
    plan = select(load_runbook(runbook_path), "rollback", "phase2")
    return with_checkpoint(plan, ctx.checkpoints.get("sandbox", "phase2"))


# A step that starts a grandchild (in its process group) and outlives any timeout.
SPAWNER = """\
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(f"{{child.pid}}\\n")
print("spawned", child.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture
def hanging_step(repo: Path) -> tuple[str, Path]:
    script = repo.parent / "spawner.py"
    script.write_text(SPAWNER.format())
    pids = repo.parent / "pids.txt"
    return f"- name: long deploy\n  run: [{sys.executable}, {script}, {pids}]\n", pids


def running_step(ctx: Context, run_id: str, pids: Path) -> RunRecord:
    """Wait until the hanging step runs and has started its child."""

    def ready() -> RunRecord | None:
        record = ctx.runs.get(run_id)
        step = record.current_step
        return record if step is not None and step.pgid and pids.exists() and pids.read_text() else None

    record: RunRecord = wait_for(ready, timeout=30, message="the long step to start")
    return record


FAILING_DEPLOY = "echo deploy failed >&2; exit 1"


def phase3(ctx: Context, env: dict[str, str], repo: Path) -> Path:
    """Runbook with phase3 (level1's deploy fails), its checkpoint taken."""
    path = write_runbook(Path(env["RUNBOOK"]), repo, phase3=True)
    runbook = load_runbook(path)
    execute_run(ctx, create_run(ctx, select(runbook, "preflight", "phase3"), "cli:test").run_id, runbook)
    return path


def rollback(ctx: Context, path: Path, level: str = "level1", parent: RunRecord | None = None) -> RunRecord:
    runbook = load_runbook(path)
    plan = with_checkpoint(select(runbook, "rollback", "phase3", level), ctx.checkpoints.get("sandbox", "phase3"))
    return enqueue_run(ctx, plan, ONCALL, Origin(parent=parent))


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    """Background workers a test starts (append them); stopped, whole sessions, afterwards."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        stop_worker(proc)
