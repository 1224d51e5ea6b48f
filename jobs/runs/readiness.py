"""Readiness: the verdict of a rehearsal (ready / not ready, with reasons), the last one of every
level kept in Redis, and the readiness of every service, phase and level at a glance.

A level is not ready when its last rehearsal did not succeed, its expected duration exceeds its
budget, its checkpoint is missing or older than `readiness.max_checkpoint_age`, it was never
rehearsed, or its last rehearsal is older than twice its `rehearsal.every`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from jobs.context import Context
from jobs.core.durations import format_duration
from jobs.core.redis_values import optional_text
from jobs.records.checkpoints import Checkpoint
from jobs.records.runs import RunRecord
from jobs.runbook.model import Runbook
from jobs.runbook.schedule import RehearsalSchedule
from jobs.runs.eta import NO_HISTORY, Estimate, for_plan, total_line
from jobs.runs.plan import Plan, select

READY, NOT_READY = "ready", "not ready"


class LastRehearsal(BaseModel):
    """The last rehearsal of a level, as kept in Redis."""

    run_id: str
    at: datetime
    ready: bool
    reasons: list[str] = []
    predicted: float | None = None
    budget: float


@dataclass(frozen=True)
class RehearsalResult:
    """A rehearsal's run, the checkpoint it rehearsed, the expected real run and the verdict."""

    record: RunRecord
    checkpoint: Checkpoint | None
    estimate: Estimate
    ready: bool
    reasons: list[str] = field(default_factory=list)


def schedule_of(runbook: Runbook, phase: str, level: str) -> RehearsalSchedule | None:
    """How often the level is rehearsed: its own `rehearsal:`, else the runbook's (None: on demand only)."""
    return runbook.phases[phase].levels[level].rehearsal or runbook.rehearsal


def _checkpoint_problem(runbook: Runbook, checkpoint: Checkpoint | None, now: datetime, needed: bool) -> str | None:
    if checkpoint is None:
        return "no checkpoint is recorded" if needed else None
    age = (now - checkpoint.taken_at).total_seconds()
    limit = runbook.readiness.max_checkpoint_age
    if age > limit:
        return f"checkpoint {checkpoint.tag} is {format_duration(age)} old (more than {format_duration(limit)})"
    return None


def judge(ctx: Context, runbook: Runbook, plan: Plan, record: RunRecord) -> RehearsalResult:
    """The verdict of a finished rehearsal, kept as the level's last one."""
    estimate = for_plan(ctx.redis, ctx.keys, plan)
    reasons: list[str] = []
    if record.status == "refused":
        reasons.append(record.error or "the rehearsal was refused")
    elif record.status != "succeeded":
        failing = next((s for s in record.steps if s.status not in ("succeeded", "skipped", "pending")), None)
        where = f" at step {failing.index + 1} ({failing.title}): {failing.detail or failing.status}" if failing else ""
        reasons.append(f"the rehearsal {record.status.replace('_', ' ')}{where}")
    problem = _checkpoint_problem(runbook, plan.checkpoint, ctx.clock(), plan.needs_checkpoint)
    if problem is not None and record.status != "refused":  # a refused one already says why
        reasons.append(problem)
    if estimate.over_budget:
        reasons.append(total_line(estimate).removeprefix("⚠️ "))
    result = RehearsalResult(record, plan.checkpoint, estimate, not reasons, reasons)
    last = LastRehearsal(run_id=record.run_id, at=record.ended_at or ctx.clock(), ready=result.ready,
                         reasons=reasons, predicted=estimate.total, budget=plan.budget)  # fmt: skip
    ctx.redis.hset(ctx.keys.rehearsal_verdict(record.service, record.phase, record.level or ""), "last",
                   last.model_dump_json())  # fmt: skip
    return result


def last_rehearsal(ctx: Context, service: str, phase: str, level: str) -> LastRehearsal | None:
    """The level's last rehearsal, if it was ever rehearsed."""
    raw = optional_text(ctx.redis.hget(ctx.keys.rehearsal_verdict(service, phase, level), "last"))
    return LastRehearsal.model_validate_json(raw) if raw else None


def verdict_changed(ctx: Context, service: str, phase: str, level: str, ready: bool) -> bool:
    """Whether `ready` differs from the verdict last posted for the level (then it is the posted one)."""
    key = ctx.keys.rehearsal_verdict(service, phase, level)
    word = READY if ready else NOT_READY
    previous = optional_text(ctx.redis.hget(key, "posted"))
    if previous == word:
        return False
    ctx.redis.hset(key, "posted", word)
    return True


def result_text(result: RehearsalResult, now: datetime) -> str:
    """The rehearsal's result for a terminal or a thread reply: checkpoint, steps, expected real
    run against the budget, verdict and reasons.
    """
    record = result.record
    title = f"Rehearsal {record.run_id} of {record.service} {record.phase} {record.level or ''}".rstrip()
    lines = [f"{title}: {'READY' if result.ready else 'NOT READY'}"]
    if (cp := result.checkpoint) is not None:
        age = format_duration((now - cp.taken_at).total_seconds())
        lines.append(f"Checkpoint: {cp.tag} at {cp.commit[:12]}, taken {cp.taken_at:%Y-%m-%d %H:%M} UTC ({age} old)")
    else:
        lines.append("Checkpoint: none recorded")
    for step in record.steps:
        took = f" in {format_duration(step.duration)}" if step.duration is not None else ""
        detail = f" — {step.detail}" if step.detail else ""
        lines.append(f"  {step.index + 1}. {step.title}: {step.status}{took}{detail}")
    lines.append("Real run: " + total_line(result.estimate))
    lines += [f"  ✗ {reason}" for reason in result.reasons]
    return "\n".join(lines)


@dataclass(frozen=True)
class Row:
    """One level's readiness."""

    service: str
    phase: str
    level: str
    budget: float
    checkpoint: Checkpoint | None
    last: LastRehearsal | None
    ready: bool
    reasons: list[str]


def level_row(ctx: Context, runbook: Runbook, phase: str, level: str, now: datetime, from_git: bool) -> Row:
    """The readiness of one level (checkpoint from Redis, and from git with `from_git`)."""
    plan = select(runbook, "rollback", phase, level)
    checkpoint = ctx.checkpoints.get(runbook.service, phase, repo=runbook.repo if from_git else None)
    last = last_rehearsal(ctx, runbook.service, phase, level)
    reasons: list[str] = []
    if (problem := _checkpoint_problem(runbook, checkpoint, now, plan.needs_checkpoint)) is not None:
        reasons.append(problem)
    schedule = schedule_of(runbook, phase, level)
    if last is None:
        reasons.append("never rehearsed")
    else:
        reasons += [reason for reason in last.reasons if not reason.startswith("checkpoint ")]
        age = (now - last.at).total_seconds()
        if schedule is not None and age > 2 * schedule.every:
            reasons.append(f"last rehearsed {format_duration(age)} ago (more than twice every "
                           f"{format_duration(schedule.every)})")  # fmt: skip
    return Row(runbook.service, phase, level, plan.budget, checkpoint, last, not reasons, reasons)


def rows(ctx: Context, books: Iterable[Runbook], now: datetime, from_git: bool = False) -> list[Row]:
    """Every service, phase and level with something to roll back."""
    return [
        level_row(ctx, book, phase_name, level_name, now, from_git)
        for book in books
        for phase_name, phase in book.phases.items()
        if not phase.analysis_only
        for level_name in phase.levels
    ]


def row_text(row: Row, now: datetime) -> str:
    """`sandbox phase2 immediate: ready — checkpoint 3d old · rehearsed 2h ago (ready) · expected 4s of 30m`."""
    if row.checkpoint is not None:
        checkpoint = f"checkpoint {format_duration((now - row.checkpoint.taken_at).total_seconds())} old"
    else:
        checkpoint = "no checkpoint"
    if row.last is not None:
        ago = format_duration((now - row.last.at).total_seconds())
        rehearsed = f"rehearsed {ago} ago ({READY if row.last.ready else NOT_READY})"
        expected = format_duration(row.last.predicted) if row.last.predicted is not None else NO_HISTORY
    else:
        rehearsed, expected = "never rehearsed", NO_HISTORY
    verdict = READY if row.ready else f"{NOT_READY}: {'; '.join(row.reasons)}"
    return (f"{row.service} {row.phase} {row.level}: {verdict} — {checkpoint} · {rehearsed} · "
            f"expected {expected} of {format_duration(row.budget)}")  # fmt: skip


def as_json(row: Row) -> str:
    """A row as JSON (for scripts)."""
    return json.dumps({"service": row.service, "phase": row.phase, "level": row.level, "ready": row.ready,
                       "reasons": row.reasons, "budget": row.budget})  # fmt: skip
