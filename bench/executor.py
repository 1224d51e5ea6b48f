"""Executor overhead: 50 `true` steps through rollbot vs a bash script running 50 `/bin/true`.

Both sides fork and exec the same program for every step; rollbot adds its process-group
handling and output capture (the executor row) and, in a full run, the Redis run record, the run
log, the service lock, the lease and the audit entries. A full run's cost is split into what each
step costs (compared with what a step costs bash) and what a run costs once. Target ≤ 1.5× for
the executor, ≤ 1.25× for a full run's cost per step. A step's record, log lines and audit entry
are journaled on disk at once and written to Redis by the run's background writer (one Lua script
for everything pending, at most every 20 ms), so quick steps share round trips.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from redis import Redis

from bench.common import Row, print_rows
from jobs.context import Context
from jobs.core.keys import Keys
from jobs.core.redaction import Redactor
from jobs.core.settings import Settings
from jobs.host.process import output_file
from jobs.records.runs import utcnow
from jobs.runbook.loader import load_runbook
from jobs.runbook.model import Runbook
from jobs.runs.enqueue import create_run
from jobs.runs.executor import Executor, new_step_records
from jobs.runs.plan import Plan, select
from jobs.runs.runner import execute_run

STEPS = 50
REPEAT = 25
TARGET = 1.5  # the executor alone
STEP_TARGET = 1.25  # a full run's cost per step (record, log, lease)


def _runbook(folder: Path, steps: int) -> Runbook:
    lines = "\n".join('          - run: ["true"]' for _ in range(steps))
    path = folder / f"bench-{steps}.yaml"
    path.write_text(
        f'version: 1\nservice: bench\nrepo: {folder}\nalert_channel: "#bench"\nphases:\n'
        f"  phase2:\n    title: Bench\n    risk: medium\n    levels:\n      immediate:\n"
        f"        budget: 10m\n        steps:\n{lines}\n"
    )
    return load_runbook(path)


def _bash(folder: Path, steps: int) -> Callable[[], None]:
    script = folder / f"steps-{steps}.sh"
    script.write_text("#!/bin/bash\nset -e\n" + "/bin/true\n" * steps)

    def run() -> None:
        subprocess.run(["bash", str(script)], check=True)

    return run


def _executor(plan: Plan, redactor: Redactor) -> Callable[[], None]:
    def run() -> None:
        with output_file("rb-bench") as output:
            executor = Executor(plan, "rb-bench", "bench", output, redactor, lambda: None, utcnow, lambda _c: None)
            status, _ = executor.run(new_step_records(plan, redactor))
        assert status == "succeeded"

    return run


def _full_run(ctx: Context, runbook: Runbook) -> Callable[[], None]:
    plan = select(runbook, "rollback", "phase2")

    def run() -> None:
        record = create_run(ctx, plan, "bench")
        assert execute_run(ctx, record.run_id, runbook).status == "succeeded"

    return run


def run() -> list[Row]:
    """Measure every variant, interleaved so that load changes hit all alike, and return the rows."""
    settings = Settings(rollbot_namespace=f"bench{uuid.uuid4().hex[:8]}")
    redis = Redis.from_url(settings.redis_url)
    redactor = Redactor(["xoxb-not-a-real-token"])
    ctx = Context(redis, Keys(settings.rollbot_namespace), settings, redactor)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one, many = _runbook(folder, 1), _runbook(folder, STEPS)
        variants = {
            "bash 1": _bash(folder, 1),
            "bash N": _bash(folder, STEPS),
            "executor N": _executor(select(many, "rollback", "phase2"), redactor),
            "full 1": _full_run(ctx, one),
            "full N": _full_run(ctx, many),
        }
        timings: dict[str, list[float]] = {name: [] for name in variants}
        try:
            for _ in range(REPEAT):
                for name, action in variants.items():
                    started = time.perf_counter()
                    action()
                    timings[name].append(time.perf_counter() - started)
        finally:
            keys = list(redis.scan_iter(match=f"{settings.rollbot_namespace}:*"))
            if keys:
                redis.delete(*keys)
    ms = {name: statistics.median(values) * 1000 for name, values in timings.items()}
    bash_step = (ms["bash N"] - ms["bash 1"]) / (STEPS - 1)
    full_step = (ms["full N"] - ms["full 1"]) / (STEPS - 1)
    executor_ratio = ms["executor N"] / ms["bash N"]
    step_ratio = full_step / bash_step
    compared = f"{STEPS} `true` steps vs `bash` running {STEPS} `/bin/true`"
    return [
        Row("executor overhead", compared, executor_ratio, f"≤ {TARGET}×", executor_ratio <= TARGET,
            f"executor {ms['executor N']:.1f} ms, bash {ms['bash N']:.1f} ms (medians of {REPEAT})"),
        Row("full run, cost per step (record, log, lease)", "marginal cost of a step: rollbot run vs bash",
            step_ratio, f"≤ {STEP_TARGET}×", step_ratio <= STEP_TARGET,
            f"{full_step:.2f} ms vs {bash_step:.2f} ms per step; a run also costs "
            f"{ms['full 1'] - full_step:.1f} ms once (lock, lease, record, audit, HEAD read twice)"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_rows(run())
