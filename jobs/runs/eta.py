"""Expected durations from history (`jobs.records.history`): each step's usual duration in a plan,
the expected total against the level's budget, and a running run's expected finish. Without
history it says "no history yet", never a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis

from jobs.core.durations import format_duration
from jobs.core.keys import Keys
from jobs.records import history
from jobs.records.history import Usual
from jobs.records.runs import RunRecord
from jobs.runs.plan import Plan

NO_HISTORY = "no history yet"


@dataclass(frozen=True)
class Estimate:
    """The usual duration of each step of a plan (None: no history yet) and the budget it runs under."""

    usual: list[Usual | None]
    budget: float
    next_level: str | None = None

    @property
    def total(self) -> float | None:
        """The expected total (sum of medians), when every step has history."""
        if not self.usual or any(u is None for u in self.usual):
            return None
        return sum(u.median for u in self.usual if u is not None)

    @property
    def known(self) -> int:
        """How many steps have history."""
        return sum(1 for u in self.usual if u is not None)

    @property
    def over_budget(self) -> bool:
        """The expected total exceeds the budget."""
        return self.total is not None and self.total > self.budget


def usual_text(usual: Usual | None) -> str:
    """`usually 1.2s (p90 2s, 5 runs)` or `no history yet`."""
    if usual is None:
        return NO_HISTORY
    runs = "1 run" if usual.count == 1 else f"{usual.count} runs"
    return f"usually {format_duration(usual.median)} (p90 {format_duration(usual.p90)}, {runs})"


def next_level(plan: Plan) -> str | None:
    """The level after the plan's in its phase, if any."""
    names = list(plan.phase.levels)
    if plan.level_name not in names:
        return None
    index = names.index(plan.level_name)
    return names[index + 1] if index + 1 < len(names) else None


def for_plan(redis: Redis, keys: Keys, plan: Plan) -> Estimate:
    """The estimate of `plan` from its steps' history."""
    level = plan.level_name or plan.kind
    titles = [step.title for step in plan.steps]
    usual = history.usual(redis, keys, plan.runbook.service, plan.phase_name, level, titles)
    return Estimate(usual, plan.budget, next_level(plan))


def for_record(redis: Redis, keys: Keys, record: RunRecord) -> Estimate:
    """The estimate of a run's steps (by their titles) from history."""
    usual = history.usual(redis, keys, record.service, record.phase, history.level_of(record),
                          [step.title for step in record.steps])  # fmt: skip
    return Estimate(usual, record.budget)


def total_line(estimate: Estimate) -> str:
    """The expected total against the budget, said plainly when it does not fit."""
    budget = format_duration(estimate.budget)
    total = estimate.total
    if total is None:
        missing = len(estimate.usual) - estimate.known
        return f"Expected total: {NO_HISTORY} ({missing} of {len(estimate.usual)} steps never ran) · budget {budget}"
    line = f"Expected total: {format_duration(total)} of the {budget} budget"
    if estimate.over_budget:
        instead = f"; consider `{estimate.next_level}` (the next level)" if estimate.next_level else ""
        line = f"⚠️ Expected total {format_duration(total)} EXCEEDS the {budget} budget{instead}"
    return line


def plan_lines(plan: Plan, estimate: Estimate) -> list[str]:
    """Each step's usual duration, then the expected total against the budget."""
    pairs = zip(plan.steps, estimate.usual, strict=False)
    lines = [f"{i}. {step.title}: {usual_text(usual)}" for i, (step, usual) in enumerate(pairs, 1)]
    return [*lines, total_line(estimate)]


def progress_note(record: RunRecord, estimate: Estimate, now: datetime) -> str | None:
    """While a run runs: its expected finish (when every step left has history) and a step running
    past its p90. None when the run is not running.
    """
    if record.status != "running":
        return None
    remaining = 0.0
    unknown = False
    notes: list[str] = []
    for step, usual in zip(record.steps, estimate.usual, strict=False):
        if step.status not in ("pending", "running"):
            continue
        if usual is None:
            unknown = True
            continue
        elapsed = (now - step.started_at).total_seconds() if step.status == "running" and step.started_at else 0.0
        remaining += max(0.0, usual.median - elapsed)
        if step.status == "running" and elapsed > usual.p90:
            notes.append(f"⚠️ step {step.index + 1} ({step.title}) is running past its usual p90 "
                         f"({format_duration(elapsed)}, p90 {format_duration(usual.p90)})")  # fmt: skip
    if unknown:
        finish = f"Expected finish: {NO_HISTORY}"
    else:
        finish = f"Expected finish: {(now + timedelta(seconds=remaining)):%H:%M:%S} UTC"
    return " · ".join([finish, *notes])


def live_line(step_index: int, total: int, title: str, elapsed: float, usual: Usual | None, budget_left: float) -> str:
    """The terminal's line for the running step: elapsed, usual duration, budget left."""
    past = " — past its usual p90" if usual is not None and elapsed > usual.p90 else ""
    return (f"▶ [{step_index + 1}/{total}] {title}: {format_duration(elapsed)} elapsed · {usual_text(usual)} · "
            f"budget left {format_duration(max(0.0, budget_left))}{past}")  # fmt: skip
