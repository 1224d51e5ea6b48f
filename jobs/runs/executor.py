"""Runs a plan's steps in order under the level's budget, recording each step as it goes."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from jobs.core.durations import format_duration
from jobs.core.exceptions import GitStopped, RollbotError
from jobs.core.redaction import Redactor
from jobs.core.settings import PRIVATE_ENV_PREFIXES, SETTING_NAMES
from jobs.host import git, health
from jobs.host.process import RUN_MARKER_ENV, public_environment, run_process
from jobs.records.checkpoints import Checkpoint
from jobs.records.runs import RunStatus, StepRecord, StepStatus
from jobs.runbook.model import (
    CommandStep,
    GitCheckpointStep,
    GitResetStep,
    HttpCheckStep,
    StepBase,
    WaitUntilHealthyStep,
)
from jobs.runbook.placeholders import substitute
from jobs.runs.plan import Plan, command_text

logger = logging.getLogger(__name__)

TAIL_LINES = 40
TAIL_CHARS = 4000
MAX_OUTPUT_READ = 256 * 1024  # bytes of a step's output kept for the run log (the last ones)
HTTP_CHECK_TIMEOUT = 30.0

# A failing step's status decides the run's; `failed` with continue_on_failure does not stop it.
_RUN_STATUS_FOR: dict[StepStatus, RunStatus] = {
    "failed": "failed",
    "timed_out": "timed_out",
    "budget_exceeded": "budget_exceeded",
    "cancelled": "cancelled",
}


def step_environment(run_id: str, plan: Plan) -> dict[str, str]:
    """The environment steps run with: the process's, without rollbot's own secrets and settings."""
    env = public_environment(set(SETTING_NAMES), PRIVATE_ENV_PREFIXES)
    env |= {RUN_MARKER_ENV: run_id, "ROLLBOT_PHASE": plan.phase_name, "ROLLBOT_LEVEL": plan.level_name or ""}
    return env


def new_step_records(plan: Plan, redactor: Redactor) -> list[StepRecord]:
    """A pending record per step of the plan (secrets in a command line are masked)."""
    return [
        StepRecord(index=i, title=redactor(step.title), command=redactor(command_text(step, plan)))
        for i, step in enumerate(plan.steps)
    ]


@dataclass
class StepOutcome:
    """How one step ended."""

    status: StepStatus
    exit_code: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Executor:
    """Executes `plan` for run `run_id`. Output of every step goes to `output` (a binary file);
    `on_step` is called when a step starts (a command: once its process exists) and when it ends,
    then with the step's redacted output.
    """

    plan: Plan
    run_id: str
    actor: str
    output: IO[bytes]
    redactor: Redactor
    should_stop: Callable[[], str | None]
    clock: Callable[[], datetime]
    record_checkpoint: Callable[[Checkpoint], Checkpoint | None]
    on_step: Callable[[StepRecord, str | None], None] = lambda _record, _output: None
    ca_bundle: Path | None = None

    def __post_init__(self) -> None:
        self.values = dict(self.plan.values)
        self.checkpoint = self.plan.checkpoint
        self.env = step_environment(self.run_id, self.plan)

    def run(self, records: list[StepRecord]) -> tuple[RunStatus, float]:
        """Run every step, stopping at the first failure unless the step may continue (a validation
        runs every check); returns the run's status (decided by the first failure) and elapsed
        seconds. Steps not run are marked `skipped`.
        """
        started = time.monotonic()
        budget_deadline = started + self.plan.budget
        keep_going = self.plan.kind == "validation"  # a validation reports every failing check
        status: RunStatus = "succeeded"
        stopped = False
        for step, record in zip(self.plan.steps, records, strict=True):
            if stopped:
                record.status = "skipped"
                self.on_step(record, None)
                continue
            outcome = self._run_one(step, record, budget_deadline)
            if outcome.status not in _RUN_STATUS_FOR or (outcome.status == "failed" and step.continue_on_failure):
                continue
            if status == "succeeded":
                status = _RUN_STATUS_FOR[outcome.status]
            stopped = not keep_going or outcome.status in ("cancelled", "budget_exceeded")
        return status, time.monotonic() - started

    def _run_one(self, step: StepBase, record: StepRecord, budget_deadline: float) -> StepOutcome:
        if (cancelled_by := self.should_stop()) is not None:
            record.status, record.detail = "cancelled", f"not started: cancelled by {cancelled_by}"
            self.on_step(record, None)
            return StepOutcome("cancelled")
        remaining = budget_deadline - time.monotonic()
        budget_text = format_duration(self.plan.budget)
        if remaining <= 0:
            record.status = "budget_exceeded"
            record.detail = f"not started: the {budget_text} budget was used up"
            self.on_step(record, None)
            return StepOutcome("budget_exceeded")
        own_limit = step.timeout is not None and step.timeout < remaining
        deadline = time.monotonic() + (step.timeout if own_limit and step.timeout else remaining)
        record.status, record.started_at = "running", self.clock()
        if not isinstance(step, CommandStep):
            self.on_step(record, None)  # a command reports once its process group exists
        offset = self.output.seek(0, os.SEEK_END)
        self._write(f"=== [{record.index + 1}/{len(self.plan.steps)}] {record.title}: {record.command}\n")
        began = time.monotonic()
        try:
            outcome = self._dispatch(step, record, deadline)
        except RollbotError as error:  # a built-in step's own failure (git, placeholders)
            outcome = StepOutcome("failed", notes=[error.user_message])
        if outcome.status == "timed_out" and not own_limit:
            outcome.status = "budget_exceeded"
        record.duration = time.monotonic() - began
        if outcome.status == "timed_out":
            outcome.notes.append(f"timed out after {format_duration(record.duration)} (step timeout)")
        elif outcome.status == "budget_exceeded":
            outcome.notes.append(f"stopped: the level's {budget_text} budget ran out")
        for note in outcome.notes:
            self._write(f"rollbot: {note}\n")
        record.status, record.exit_code = outcome.status, outcome.exit_code
        record.detail = self.redactor("; ".join(outcome.notes)) or None
        record.pgid = None
        text = self._output_since(offset)
        record.output_tail = _tail(text)
        if outcome.status != "succeeded":
            logger.warning("run %s step %s %s: %s", self.run_id, record.index + 1, outcome.status, record.output_tail)
        self.on_step(record, text)
        return outcome

    def _dispatch(self, step: StepBase, record: StepRecord, deadline: float) -> StepOutcome:
        if isinstance(step, CommandStep):
            return self._command(step, record, deadline)
        if isinstance(step, GitCheckpointStep | GitResetStep):
            return self._git_step(step, record, deadline)
        if isinstance(step, HttpCheckStep):
            timeout = min(step.timeout or HTTP_CHECK_TIMEOUT, max(0.1, deadline - time.monotonic()))
            result = health.http_check(self._fill(step.url), step.method, step.expect_status, timeout, self.ca_bundle)
            return StepOutcome("succeeded" if result.ok else "failed", notes=[result.detail])
        if isinstance(step, WaitUntilHealthyStep):
            return self._wait_healthy(step, deadline)
        raise RollbotError(f"unknown step kind {type(step).__name__}")

    def _command(self, step: CommandStep, record: StepRecord, deadline: float) -> StepOutcome:
        argv = [self._fill(arg) for arg in step.run]
        env = self.env | {name: self._fill(value) for name, value in step.env.items()}

        def started(pgid: int) -> None:
            record.pgid = pgid
            self.on_step(record, None)

        result = run_process(
            argv,
            cwd=self.plan.runbook.repo,
            env=env,
            output=self.output,
            deadline=deadline,
            should_stop=self.should_stop,
            on_start=started,
        )
        if result.ending == "deadline":
            return StepOutcome("timed_out", result.exit_code)
        if result.ending == "stopped":
            return StepOutcome("cancelled", result.exit_code, [f"cancelled by {result.stop_reason}"])
        notes = [] if result.exit_code == 0 else [f"exit code {result.exit_code}"]
        return StepOutcome("succeeded" if result.exit_code == 0 else "failed", result.exit_code, notes)

    def _git_step(self, step: GitCheckpointStep | GitResetStep, record: StepRecord, deadline: float) -> StepOutcome:
        """A built-in git step. Its git commands run as a command step's process does: marked with
        the run id, killed with their hooks at the step's deadline or on cancel, their process group
        recorded while they run.
        """

        def started(pgid: int) -> None:
            record.pgid = pgid
            self.on_step(record, None)

        limits = git.GitLimits(env=self.env, deadline=deadline, should_stop=self.should_stop, on_start=started)
        try:
            return self._checkpoint(step, limits) if isinstance(step, GitCheckpointStep) else self._reset(limits)
        except GitStopped as stopped:
            if stopped.ending == "deadline":
                return StepOutcome("timed_out", notes=[*stopped.notes, stopped.user_message])
            return StepOutcome("cancelled", notes=[*stopped.notes, f"cancelled by {stopped.reason}"])

    def _checkpoint(self, step: GitCheckpointStep, limits: git.GitLimits) -> StepOutcome:
        prefix = self.plan.phase.checkpoint or ""
        checkpoint, notes = git.create_checkpoint(
            self.plan.runbook.repo, prefix, step.branch, self.clock(), run_id=self.run_id, actor=self.actor,
            limits=limits,
        )  # fmt: skip
        replaced = self.record_checkpoint(checkpoint)
        self.checkpoint = checkpoint
        self.values |= {"checkpoint": checkpoint.tag, "checkpoint_commit": checkpoint.commit}
        notes.append(f"recorded as the {self.plan.phase_name} checkpoint")
        if replaced is not None:
            notes.append(
                f"it replaces {replaced.tag} ({replaced.commit[:12]}, taken {replaced.taken_at:%Y-%m-%d %H:%M} UTC)"
            )
        return StepOutcome("succeeded", notes=notes)

    def _reset(self, limits: git.GitLimits) -> StepOutcome:
        if self.checkpoint is None:
            raise RollbotError(f"no checkpoint recorded for {self.plan.phase_name}; nothing to reset to")
        repo, main = self.plan.runbook.repo, self.plan.runbook.main_branch
        notes = git.reset_to_checkpoint(repo, main, self.checkpoint, self.run_id, limits)
        return StepOutcome("succeeded", notes=notes)

    def _wait_healthy(self, step: WaitUntilHealthyStep, deadline: float) -> StepOutcome:
        source = self.plan.runbook.health.get(step.source) if step.source else None
        url = self._fill(step.url) if step.url else (source.url if source else "")
        result = health.wait_until_healthy(
            url,
            source,
            step.interval,
            deadline,
            self.should_stop,
            self.ca_bundle,
            report=lambda line: self._write(line + "\n"),
        )
        if result is None:
            return StepOutcome("cancelled", notes=[f"cancelled by {self.should_stop()}"])
        return StepOutcome("succeeded" if result.ok else "timed_out", notes=[result.detail])

    def _fill(self, text: str) -> str:
        try:
            return substitute(text, self.values)
        except KeyError as error:
            raise RollbotError(f"placeholder {{{error.args[0]}}} has no value in this run") from error

    def _write(self, text: str) -> None:
        self.output.write(text.encode())
        self.output.flush()

    def _output_since(self, offset: int) -> str:
        end = self.output.seek(0, os.SEEK_END)
        if offset > end:
            offset = 0  # the file was cut back while the step ran (see `cap_output`)
        start = max(offset, end - MAX_OUTPUT_READ)
        raw = os.pread(self.output.fileno(), end - start, start)
        if start > offset:
            raw = raw.partition(b"\n")[2]  # never start inside a line (or inside a secret)
        return self.redactor(raw.decode("utf-8", errors="replace"))


def _tail(text: str) -> str:
    lines = text.rstrip("\n").splitlines()[-TAIL_LINES:]
    tail = "\n".join(lines)
    return tail[-TAIL_CHARS:]
