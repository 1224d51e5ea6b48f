"""The executor of a rehearsal: like a run's, except that a `run` step not marked `rehearse: run`
is skipped, its program still resolved (found and executable, a relative path inside the scratch
clone the rehearsal runs in), so a renamed or missing script shows before the day it is needed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from jobs.records.runs import StepRecord
from jobs.runbook.model import CommandStep, StepBase
from jobs.runs.executor import Executor, StepOutcome


def resolve_program(program: str, cwd: Path, path: str | None) -> tuple[Path | None, str]:
    """Where `program` (a step's argv[0]) is, as the step would start it from `cwd` (a name without
    a slash through `path`, else a path relative to `cwd`), and a note saying so or why not.
    """
    if "/" in program:
        found = Path(program) if Path(program).is_absolute() else cwd / program
        if not found.is_file():
            return None, f"program `{program}` not found (looked for {found})"
        if not os.access(found, os.X_OK):
            return None, f"program `{program}` is not executable ({found})"
        return found, f"`{program}` found at {found}"
    located = shutil.which(program, path=path)
    if located is None:
        return None, f"program `{program}` not found on PATH"
    return Path(located), f"`{program}` found at {located}"


class RehearsalExecutor(Executor):
    """Runs a rehearsal's steps: `run` steps only when marked `rehearse: run` (the rehearsal's plan
    has already put a `rehearse: [argv…]` command in place of the real one); git steps act on the
    scratch clone that is the plan's repository; HTTP steps run as written.
    """

    def _dispatch(self, step: StepBase, record: StepRecord, deadline: float) -> StepOutcome:
        if isinstance(step, CommandStep) and step.rehearse != "run":
            program = self._fill(step.run[0])
            found, note = resolve_program(program, self.plan.runbook.repo, self.env.get("PATH"))
            if found is None:
                return StepOutcome("failed", notes=[f"{note}: the real run would fail here"])
            return StepOutcome("skipped", notes=[f"not run in a rehearsal (no `rehearse:`); {note}"])
        return super()._dispatch(step, record, deadline)
