"""The report's timeline: run, step, validation and audit events, in the order they happened."""

from __future__ import annotations

import logging
from datetime import datetime

from jobs.core.durations import format_duration
from jobs.records.audit import AuditEntry
from jobs.records.runs import RunRecord, StepRecord
from jobs.report.gather import FINAL_STATUSES, Event, ReportData
from jobs.report.text import (
    clock_time,
    duration_text,
    elapsed_of,
    offset_text,
    one_line,
    relation,
    shortened,
    table_cell,
    who_name,
)
from jobs.slack.blocks import ICONS, RESULT_WORDS

logger = logging.getLogger(__name__)

# --- the timeline ------------------------------------------------------------------------------


class _Events:
    """Collects timeline events in the order they are found (the tie-breaker when times are equal)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, at: datetime | None, what: str, who: str = "") -> None:
        """One event; nothing when its time is unknown."""
        if at is not None:
            self.events.append(Event(at, len(self.events), what, who))


def timeline(data: ReportData) -> list[Event]:
    """Every event of the report in time order (ties keep the order they were found in)."""
    found = _Events()
    if data.alert is not None:
        alert = data.alert
        value = f" = {alert.first_value:g}" if alert.first_value is not None else ""
        what = f"First alert `{alert.alert_id}`: {alert.metric}{value} ({alert.threshold or alert.kind})"
        found.add(alert.first_seen, what, who_name(alert.posted_by or alert.source))
    if data.incident is not None:
        found.add(data.incident.paged_at, f"PagerDuty took the page for incident `{data.incident.key}`", "`rollbot`")
    for run in data.runs:
        _run_events(run, data.runs, found)
    for run in data.validations:
        _validation_events(run, found)
    runs = {r.run_id: r for r in [*data.runs, *data.validations]}
    for entry in data.audit:
        if not _covered(entry, runs, data):
            found.add(entry.time, audit_words(entry), who_name(entry.actor))
    if data.incident is not None:
        incident = data.incident
        if not any(e.action == "stakeholders.notified" for e in data.audit):
            found.add(incident.stakeholders_notified_at, "Business stakeholders notified",
                      who_name(incident.stakeholders_notified_by))  # fmt: skip
        by = (
            table_cell(incident.resolved_by) if incident.resolved_by else "`rollbot`"
        )  # None: rollbot's Events API resolve
        found.add(incident.resolved_at, f"Incident `{incident.key}` resolved", by)
    if data.alert is not None and data.alert.resolved_at is not None:
        found.add(data.alert.resolved_at, f"Alert resolved: {data.alert.resolution or 'recovered'}", "`rollbot`")
    return sorted(found.events)


def _run_events(run: RunRecord, family: list[RunRecord], found: _Events) -> None:
    target = f"{run.phase} {run.level or ''}".rstrip()
    found.add(run.created_at, f"Rollback {target} requested (`{run.run_id}`{relation(run, family)})",
              who_name(run.actor))  # fmt: skip
    if run.started_at is not None:
        checkpoint = f", to checkpoint {run.checkpoint_tag}" if run.checkpoint_tag else ""
        found.add(run.started_at, f"Rollback `{run.run_id}` started (budget {format_duration(run.budget)}{checkpoint})")
    for step in run.steps:
        found.add(step.started_at, _step_words(run, step))
    if run.ended_at is not None:
        elapsed = elapsed_of(run)
        took = f" after {duration_text(elapsed)} of {format_duration(run.budget)}" if elapsed is not None else ""
        why = f": {run.error}" if run.error and run.status != "succeeded" else ""
        head = f", HEAD {run.head_after[:12]}" if run.head_after and run.status == "succeeded" else ""
        who = who_name(run.cancelled_by) if run.status == "cancelled" else ""
        found.add(run.ended_at, f"Rollback `{run.run_id}` {RESULT_WORDS[run.status]}{took}{head}{why}", who)


def _step_words(run: RunRecord, step: StepRecord) -> str:
    took = f" in {duration_text(step.duration)}" if step.duration is not None else ""
    detail = f" — {step_detail(step)}" if step.status != "succeeded" and step_detail(step) else ""
    where = f"`{run.run_id}` step {step.index + 1}/{len(run.steps)}"
    return f"{ICONS[step.status]} {where} {step.title}: {step.status}{took}{detail}"


def step_detail(step: StepRecord) -> str:
    """The step's detail, with its exit code when the detail does not say it."""
    detail = one_line(step.detail or "")
    if step.exit_code and "exit code" not in detail:
        detail = f"{detail} (exit code {step.exit_code})".strip()
    return detail


def _validation_events(run: RunRecord, found: _Events) -> None:
    found.add(run.created_at, f"Validation {run.phase} requested (`{run.run_id}`)", who_name(run.actor))
    if run.started_at is not None:
        found.add(run.started_at, f"Validation `{run.run_id}` started")
    if run.ended_at is not None:
        checked = [s for s in run.steps if s.status != "skipped"]
        passed = [s for s in checked if s.status == "succeeded"]
        failing = [s.title for s in checked if s.status != "succeeded"]
        elapsed = elapsed_of(run)
        took = f" after {duration_text(elapsed)}" if elapsed is not None else ""
        failed = f"; not passed: {', '.join(failing)}" if failing else ""
        found.add(run.ended_at, f"Validation `{run.run_id}` {RESULT_WORDS[run.status]}{took}: "
                                f"{len(passed)}/{len(checked)} checks passed{failed}")  # fmt: skip


def is_lifecycle(entry: AuditEntry, runs: dict[str, RunRecord]) -> bool:
    """An entry of a run's own life (queued request, start, end) that its record already tells."""
    run = runs.get(entry.run_id or "")
    if run is None:
        return False
    noun, _, verb = entry.action.partition(".")
    if noun == "step":
        return True
    if noun == "run":
        return verb in FINAL_STATUSES
    return noun == run.kind and (
        verb in ("start", "end", *FINAL_STATUSES) or (verb == "request" and entry.result == "queued")
    )


def _covered(entry: AuditEntry, runs: dict[str, RunRecord], data: ReportData) -> bool:
    """Whether an audit entry tells what the records already put in the timeline."""
    if is_lifecycle(entry, runs):
        return True
    if entry.action == "pagerduty.trigger" and entry.result == "delivered":
        return data.incident is not None and data.incident.paged_at is not None
    if entry.action == "pagerduty.resolve" and entry.result == "delivered":
        return data.incident is not None and data.incident.resolved_at is not None
    if entry.action == "alert.received":
        return data.alert is not None and entry.args.get("alert_id") == data.alert.alert_id
    return False


def audit_words(entry: AuditEntry) -> str:
    args = {k: v for k, v in sorted(entry.args.items()) if v not in (None, "", [], {}) and k not in ("key",)}
    shown = ", ".join(f"{k}={shortened(v)}" for k, v in args.items())
    run = f" (`{entry.run_id}`)" if entry.run_id else ""
    return f"`{entry.action}` → {entry.result}{run}" + (f" · {shown}" if shown else "")


def timeline_table(data: ReportData) -> str:
    """The timeline as a Markdown table (time, offset from the first event, what, who)."""
    events = timeline(data)
    lines = ["## Timeline", ""]
    if not events:
        return "\n".join([*lines, "Nothing recorded."])
    zero = events[0].at
    lines += ["| Time (UTC) | Elapsed | Event | Who |", "|---|---|---|---|"]
    for event in events:
        lines.append(
            f"| {clock_time(event.at)} | {offset_text(event.at - zero)} "
            f"| {table_cell(event.what)} | {table_cell(event.who)} |"
        )
    return "\n".join(lines)
