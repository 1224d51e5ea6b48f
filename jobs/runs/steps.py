"""A run's steps, once it may run: the record held by the executing process (`RunState`), each
step's end saved and audited, the checkpoint recorded (git, then Redis), the fence between steps,
the final record, and Ctrl-C from the terminal running it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from redis.exceptions import RedisError

from jobs.context import Context
from jobs.core.exceptions import GitError
from jobs.host import git
from jobs.host.git_refs import read_head
from jobs.host.process import kill_orphaned_group, output_file
from jobs.records import history, locks
from jobs.records.checkpoints import Checkpoint
from jobs.records.journal import Journal
from jobs.records.runs import RunRecord, RunStatus, StepRecord
from jobs.runbook.model import Runbook
from jobs.runs.executor import Executor, new_step_records
from jobs.runs.lifecycle import follow_up
from jobs.runs.plan import Plan
from jobs.runs.rehearsal_executor import RehearsalExecutor
from jobs.runs.state import RunState

logger = logging.getLogger(__name__)

RunObserver = Callable[[StepRecord | None], None]  # told of each step change; None: the run changed


def open_state(ctx: Context, runbook: Runbook, record: RunRecord, plan: Plan, online: bool) -> RunState:
    """The run's record held by this process, with its journal open (and locked)."""
    journal = Journal(ctx.settings.rollbot_state_dir, ctx.keys.namespace, record.run_id).open()
    lock_timeout = plan.budget + locks.LOCK_MARGIN_SECONDS
    return RunState(ctx, record, journal, online, ctx.clients.redis_probe, lock_timeout, leased=True)


class _Announcement:
    """The run message and the page on start, then the start's audit entry: once, as soon as the
    first step is under way (they never delay it), and before anything a step ends with.
    """

    def __init__(self, state: RunState, plan: Plan, notify: RunObserver) -> None:
        self._state, self._plan, self._notify = state, plan, notify
        self._done = False

    def __call__(self) -> None:
        if self._done:
            return
        self._done = True
        self._notify(None)
        record = self._state.record
        self._state.audit(actor=record.actor, action=f"{_action_kind(record)}.start", result="running",
                          phase=self._plan.phase_name, level=self._plan.level_name)  # fmt: skip


def run_steps(
    ctx: Context, plan: Plan, state: RunState, cancel_requested: Callable[[], str | None], notify: RunObserver
) -> RunRecord:
    """Run the plan's steps for `state`'s run and return its final record. Between steps the fence
    is checked: a run ended from outside, or whose lock another run holds, stops there.
    """
    repo, run_id = plan.runbook.repo, state.record.run_id
    records = new_step_records(plan, ctx.redactor)
    head_before = _head(repo)
    started = ctx.clock()
    fenced: list[str] = []  # why this process may not go on (set by the fence between steps)

    def start(record: RunRecord) -> None:
        record.status, record.started_at, record.steps = "running", started, records
        record.host, record.pid, record.head_before = socket.gethostname(), os.getpid(), head_before
        if plan.checkpoint:
            record.checkpoint_tag, record.checkpoint_commit = plan.checkpoint.tag, plan.checkpoint.commit

    actor = state.record.actor
    try:
        state.change(start)
        if state.ended_outside is not None:
            state.close()
            return state.ended_outside  # cancelled between dequeue and start
        announce = _Announcement(state, plan, notify)

        def should_stop() -> str | None:
            return cancel_requested() or (fenced[0] if fenced else None)

        def save_step(step: StepRecord, output: str | None) -> None:
            if step.status != "running":
                announce()
            lines = (output or "").splitlines()
            ended = None
            if step.status != "running":  # each step's end, audited in the same round trip
                took = round(step.duration, 3) if step.duration is not None else None
                ended = {"actor": actor, "action": "step.end", "result": step.status,
                         "args": {"step": step.index, "title": step.title, "duration": took,
                                  "started_at": step.started_at.isoformat() if step.started_at else None}}  # fmt: skip
            state.change(None, log_lines=lines, audit_entry=ended, steps=[step], then=lambda: notify(step))
            announce()
            if ended is not None and not fenced and (reason := state.owns()) is not None:
                logger.warning("run %s stops before its next step: %s", run_id, reason)
                fenced.append(f"rollbot ({reason})")

        def save_checkpoint(checkpoint: Checkpoint) -> Checkpoint | None:
            if state.record.rehearsal:
                return None  # a rehearsal's tag lives and dies with its scratch clone: never recorded
            replaced = _record_checkpoint(ctx, state, plan, checkpoint)

            def note(current: RunRecord) -> None:
                current.checkpoint_tag, current.checkpoint_commit = checkpoint.tag, checkpoint.commit

            state.change(note, audit_entry={"actor": actor, "action": "checkpoint.record", "result": checkpoint.tag,
                                            "args": {"phase": plan.phase_name, "commit": checkpoint.commit,
                                                     "replaces": replaced.tag if replaced else None}})  # fmt: skip
            return replaced

        executor_type = RehearsalExecutor if state.record.rehearsal else Executor
        with output_file(run_id) as output:
            executor = executor_type(
                plan=plan,
                run_id=run_id,
                actor=actor,
                output=output,
                redactor=ctx.redactor,
                should_stop=should_stop,
                clock=ctx.clock,
                record_checkpoint=save_checkpoint,
                on_step=save_step,
                ca_bundle=ctx.settings.ca_bundle,
            )
            status, elapsed = executor.run(records)
            announce()  # a plan without steps
        final = _finish(ctx, state, status, elapsed, _head(repo), cancel_requested())
        _remember_durations(ctx, state)
        return final
    except KeyboardInterrupt:
        _stopped_from_terminal(ctx, state)
        raise


def _record_checkpoint(ctx: Context, state: RunState, plan: Plan, checkpoint: Checkpoint) -> Checkpoint | None:
    """Record a new checkpoint in git (the truth), then Redis when it answers; journaled either way."""
    service, phase, repo = plan.runbook.service, plan.phase_name, plan.runbook.repo
    state.checkpoint(service, phase, checkpoint.model_dump(mode="json"))
    if state.online:
        try:
            return ctx.checkpoints.record(service, phase, checkpoint, repo)
        except RedisError as error:
            logger.warning("checkpoint %s recorded in git; Redis gets it later (%s)", checkpoint.tag, error)
            return None
    return ctx.checkpoints.record_local(repo, service, phase, checkpoint)


def _finish(
    ctx: Context,
    state: RunState,
    status: RunStatus,
    elapsed: float,
    head_after: str | None,
    cancelled_by: str | None,
) -> RunRecord:
    now = ctx.clock()
    outside = state.ended_outside

    def finish(record: RunRecord) -> None:
        record.elapsed, record.head_after = elapsed, head_after
        if outside is not None:  # ended from outside (its lease was lost): that verdict stands
            record.status, record.ended_at, record.error = outside.status, outside.ended_at, outside.error
            record.cancelled_by = outside.cancelled_by
            return
        record.status, record.ended_at = status, now
        if status == "cancelled":
            record.cancelled_by = cancelled_by

    result = outside.status if outside is not None else status
    state.change(finish, audit_entry={"actor": state.record.actor, "action": f"{_action_kind(state.record)}.end",
                                      "result": result, "args": {"elapsed": round(elapsed, 3),
                                      "budget": state.record.budget, "head": head_after}})  # fmt: skip
    state.close()
    return state.record


def _action_kind(record: RunRecord) -> str:
    """The audit actions' prefix: the run's kind, `rehearsal` for a rehearsal."""
    return "rehearsal" if record.rehearsal else record.kind


def _remember_durations(ctx: Context, state: RunState) -> None:
    """The succeeded steps' durations go to the history the ETAs come from (best effort)."""
    if not state.synced:
        return
    try:
        history.remember(ctx.redis, ctx.keys, state.record)
    except RedisError as error:
        logger.warning("run %s: step durations not remembered (%s)", state.record.run_id, error)


def refuse(state: RunState, message: str) -> RunRecord:
    """End a run made without Redis before its first step."""
    now = state.ctx.clock()
    message = state.ctx.redactor(message)

    def end(record: RunRecord) -> None:
        record.status, record.ended_at, record.error = "refused", now, message

    state.change(end, audit_entry={"actor": state.record.actor, "action": f"{state.record.kind}.refused",
                                   "result": "refused", "args": {"reason": message}})  # fmt: skip
    state.close()
    return state.record


def _stopped_from_terminal(ctx: Context, state: RunState) -> None:
    """Ctrl-C, SIGTERM or SIGHUP in the terminal running it: kill the steps, end it `cancelled`."""
    reason = "stopped from the terminal that ran it (interrupted or closed)"
    for step in state.record.steps:
        if step.pgid:
            kill_orphaned_group(step.pgid, state.record.run_id)
    now = ctx.clock()

    def end(record: RunRecord) -> None:
        if not record.is_active:
            return
        record.status, record.ended_at, record.error = "cancelled", now, reason
        if record.started_at:
            record.elapsed = (now - record.started_at).total_seconds()
        for step in record.steps:
            if step.status == "running":
                step.status, step.detail = "cancelled", reason
            elif step.status == "pending":
                step.status = "skipped"

    state.change(end, audit_entry={"actor": state.record.actor, "action": "run.cancelled", "result": "cancelled",
                                   "args": {"reason": reason}})  # fmt: skip
    state.close()
    if state.synced:
        try:
            follow_up(ctx, state.record.run_id)
        except RedisError as error:
            logger.warning("run %s: follow-up not queued (%s)", state.record.run_id, error)


def _head(repo: Path) -> str | None:
    """HEAD's commit: read from the repository's files, else (anything unusual) from `git rev-parse`."""
    if (read := read_head(repo)) is not None:
        return read
    try:
        return git.head(repo)
    except GitError:
        return None
