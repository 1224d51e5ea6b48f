"""Scheduled rehearsals: per runbook with a `rehearsal: {every: …}` (or a level with its own), a
chain of jobs on RQ's scheduler queues a rehearsal of every level whose last one is older than its
`every`. The readiness card is posted only when a level's verdict changes (`jobs.slack.rehearsals`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from jobs import chains
from jobs.context import Context
from jobs.core.task_names import Task
from jobs.records.runs import RunRecord
from jobs.runbook.model import Runbook
from jobs.runs.readiness import last_rehearsal, schedule_of
from jobs.runs.rehearsal import CLONE_TIMEOUT_SECONDS, SCHEDULE_ACTOR, enqueue_rehearsal, plan_rehearsal

logger = logging.getLogger(__name__)

MAX_TICK_SECONDS = 3600.0  # levels are looked at least hourly, whatever their `every`
TICK_JOB_TIMEOUT = 120


def chain_for(service: str) -> chains.Chain:
    """The chain of ticks of one service's scheduled rehearsals."""
    return chains.Chain(f"rehearsals/{service}", Task.REHEARSAL, f"scheduled rehearsals of {service}")


def levels(runbook: Runbook) -> list[tuple[str, str, float]]:
    """(phase, level, every) of each level with a rehearsal schedule."""
    found = []
    for phase_name, phase in runbook.phases.items():
        for level_name in phase.levels:
            schedule = schedule_of(runbook, phase_name, level_name)
            if schedule is not None:
                found.append((phase_name, level_name, schedule.every))
    return found


def tick_interval(runbook: Runbook) -> float | None:
    """How often the chain looks for due levels (None: nothing is scheduled)."""
    everies = [every for _phase, _level, every in levels(runbook)]
    return min([*everies, MAX_TICK_SECONDS]) if everies else None


def ensure_rehearsals(ctx: Context, books: Iterable[Runbook]) -> list[str]:
    """Start the chain of every runbook with a schedule unless it runs; returns the services started."""
    started = []
    for book in books:
        interval = tick_interval(book)
        if interval is not None and chains.ensure(ctx, chain_for(book.service), interval, TICK_JOB_TIMEOUT):
            started.append(book.service)
    return started


def _due(ctx: Context, runbook: Runbook, phase: str, level: str, every: float, now: datetime) -> bool:
    last = last_rehearsal(ctx, runbook.service, phase, level)
    return last is None or (now - last.at).total_seconds() >= every


def rehearse_due(ctx: Context, runbook: Runbook, force: bool = False) -> list[RunRecord]:
    """Queue a rehearsal of every scheduled level that is due (all of them with `force`), never two
    of one level at once. Returns the rehearsals queued.
    """
    now = ctx.clock()
    queued = []
    for phase, level, every in levels(runbook):
        if not force and not _due(ctx, runbook, phase, level, every, now):
            continue
        plan = plan_rehearsal(ctx, runbook, phase, level)
        hold = int(plan.budget + CLONE_TIMEOUT_SECONDS) + 900
        if not ctx.redis.set(ctx.keys.rehearsal_due(runbook.service, phase, level), "1", nx=True, ex=hold):
            continue  # the last one is still queued or running
        queued.append(enqueue_rehearsal(ctx, plan, SCHEDULE_ACTOR, require_checkpoint=False))
        logger.info("scheduled rehearsal %s of %s %s %s queued", queued[-1].run_id, runbook.service, phase, level)
    return queued


def done(ctx: Context, record: RunRecord) -> None:
    """A rehearsal ended: its level may be rehearsed again when due."""
    ctx.redis.delete(ctx.keys.rehearsal_due(record.service, record.phase, record.level or ""))
