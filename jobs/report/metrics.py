"""The report's "Success metrics" against the manual's targets (recovery time, first human
acknowledgment, team aligned, the outage window of the golden path), and the golden-path series
they and the chart are drawn from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobs.context import Context
from jobs.core.durations import format_duration
from jobs.records import measurements
from jobs.records.measurements import Point
from jobs.report.gather import BOT_ACTORS, ReportData
from jobs.report.text import clock_time, duration_text, table_cell
from jobs.runbook.model import Runbook, Threshold

ALIGNED_TARGET = 1800.0  # "Team Response: full team aligned within 30 minutes"
MARGIN = timedelta(minutes=10)  # measurements shown before the breach and after the recovery
NOT_HUMAN = BOT_ACTORS | {"runbook", "metric", "automation"}


@dataclass(frozen=True)
class Series:
    """The golden-path metric over the incident: its measurements, limits and moments."""

    source: str
    metric: str
    label: str
    points: list[tuple[datetime, float]]
    alert_limit: float | None = None
    rollback_limit: float | None = None
    below: bool = True  # a breach is a value below the limit (else above)
    marks: dict[str, datetime] = field(default_factory=dict)  # breach, rollback start/end, recovery

    def breached(self, value: float) -> bool:
        """Whether `value` is beyond the alert limit (the customer-impact proxy)."""
        limit = self.alert_limit if self.alert_limit is not None else self.rollback_limit
        if limit is None:
            return False
        return value < limit if self.below else value > limit


def _source_and_metric(data: ReportData, runbook: Runbook) -> tuple[str, str] | None:
    alert = data.alert
    if alert is not None:
        source, _, metric = alert.metric.rpartition(".")
        source = alert.source if alert.origin == "monitor" else source
        if source in runbook.health and metric in runbook.health[source].metrics:
            return source, metric
    name = "golden_path" if "golden_path" in runbook.health else next(iter(runbook.health), None)
    if name is None:
        return None
    return name, next(iter(runbook.health[name].metrics))


def _marks(data: ReportData) -> dict[str, datetime]:
    first, last = data.runs[0], data.runs[-1]
    marks = {"rollback start": first.started_at or first.created_at}
    if data.alert is not None:
        marks["breach"] = data.alert.first_seen
    elif data.incident is not None:
        marks["breach"] = data.incident.opened_at
    if last.ended_at is not None:
        marks["rollback end"] = last.ended_at
    recovered = (data.alert.resolved_at if data.alert else None) or (
        last.ended_at if last.status == "succeeded" else None
    )
    if recovered is not None:
        marks["recovery"] = recovered
    return marks


def golden_path(ctx: Context, data: ReportData, runbook: Runbook | None) -> Series | None:
    """The golden-path series of the report: the alert's metric, else the runbook's `golden_path`
    health source (its first metric); None when the runbook has no health source.
    """
    if runbook is None:
        return None
    chosen = _source_and_metric(data, runbook)
    if chosen is None:
        return None
    source, metric = chosen
    limits: Threshold = runbook.health[source].metrics[metric]
    marks = _marks(data)
    since = min(marks.values()) - MARGIN
    until = max(marks.values()) + MARGIN if not data.runs[-1].is_active else ctx.clock()
    points = measurements.read(ctx.redis, ctx.keys, runbook.service, source, since, until)
    below = limits.alert_below is not None or limits.rollback_below is not None
    return Series(
        source=source, metric=metric, label=limits.label or f"{source}.{metric}", points=_values(points, metric),
        alert_limit=limits.alert_below if below else limits.alert_above,
        rollback_limit=limits.rollback_below if below else limits.rollback_above, below=below, marks=marks,
    )  # fmt: skip


def _values(points: list[Point], metric: str) -> list[tuple[datetime, float]]:
    return [(p.at, p.values[metric]) for p in points if metric in p.values]


def outage_seconds(series: Series) -> float | None:
    """How long the golden path was beyond its limit: each breached measurement counts until the
    next one. None without measurements.
    """
    if not series.points:
        return None
    total = 0.0
    for (at, value), (after, _next) in zip(series.points, series.points[1:], strict=False):
        if series.breached(value):
            total += (after - at).total_seconds()
    return total


def _human_moments(data: ReportData) -> list[tuple[datetime, str]]:
    """(time, actor) of every human action on the incident or alert after it opened (PagerDuty
    acknowledgments, clicks on the cards), oldest first.
    """
    if data.incident is None:
        return []
    opened = data.incident.opened_at
    alert_id = data.alert.alert_id if data.alert else None
    return [
        (e.time, e.actor) for e in data.audit
        if e.time >= opened and e.actor not in NOT_HUMAN and e.result != "refused"
        and (e.args.get("key") == data.incident.key or (alert_id and e.args.get("alert_id") == alert_id))
    ]  # fmt: skip


def _verdict(seconds: float | None, target: float, what: str = "target") -> str:
    if seconds is None:
        return "not yet"
    if seconds <= target:
        return f"✅ within the {format_duration(target)} {what}"
    return f"❌ over the {format_duration(target)} {what} by {format_duration(seconds - target)}"


def success_metrics(
    data: ReportData, runbook: Runbook | None, series: Series | None,
    recovery: tuple[datetime, datetime, str, str] | None, target: float,
) -> str:  # fmt: skip
    """The "Success metrics" section: each measure against the manual's target, with its verdict."""
    rows = []
    recovered = (recovery[1] - recovery[0]).total_seconds() if recovery else None
    rows.append(("Recovery time", duration_text(recovered) if recovered is not None else "not recovered",
                 f"< {format_duration(target)}", _verdict(recovered, target)))  # fmt: skip
    moments = _human_moments(data)
    opened = data.incident.opened_at if data.incident else None
    first_ack = (moments[0][0] - opened).total_seconds() if moments and opened else None
    rows.append(("First human acknowledgment (PagerDuty or a card click)",
                 f"{duration_text(first_ack)} ({moments[0][1]})" if first_ack is not None and moments else "none",
                 f"< {format_duration(ALIGNED_TARGET)}", _verdict(first_ack, ALIGNED_TARGET)))  # fmt: skip
    roles = max(1, len(runbook.contacts.technical) if runbook else 1)
    seen: list[str] = []
    aligned = None
    for at, actor in moments:
        if actor not in seen:
            seen.append(actor)
        if len(seen) >= roles and opened is not None:
            aligned = (at - opened).total_seconds()
            break
    rows.append((f"Team aligned ({roles} technical contact roles acknowledged or joined)",
                 duration_text(aligned) if aligned is not None else f"not yet ({len(seen)} of {roles})",
                 f"< {format_duration(ALIGNED_TARGET)}", _verdict(aligned, ALIGNED_TARGET)))  # fmt: skip
    outage = outage_seconds(series) if series else None
    page_after = runbook.escalation.status_page_after if runbook else 300.0
    label = f"Outage window ({series.label} beyond its limit)" if series else "Outage window (golden path)"
    rows.append((label, duration_text(outage) if outage is not None else "no measurements",
                 f"≤ {format_duration(page_after)} without customer communication",
                 _verdict(outage, page_after, "limit (status page required above it)")))  # fmt: skip
    lines = ["## Success metrics", "", "| Measure | Value | Target | Verdict |", "|---|---|---|---|"]
    lines += [f"| {table_cell(a)} | {table_cell(b)} | {table_cell(c)} | {table_cell(d)} |" for a, b, c, d in rows]
    if series is not None and series.marks:
        marks = ", ".join(f"{name} {clock_time(at)}" for name, at in sorted(series.marks.items(), key=lambda m: m[1]))
        lines += ["", f"Golden path: {len(series.points)} measurements of {series.label}; {marks}."]
    return "\n".join(lines)
