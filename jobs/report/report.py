"""Incident reports: one Markdown document per rollback, built from what Redis remembers.

A report covers a run *family*: the first rollback and every retry or escalation linked to it
by `parent_run_id` (whichever member it is asked for), the PagerDuty incident they share, the
alert that started it, validation runs of the service after it, and the audit entries that
mention any of them. It is a pure function of that data and the runbook: the same data gives
the same document, byte for byte (no "generated at" clock).

When a rollback ends, `schedule` queues a `notify` job that posts the report as a file in the
run message's thread (`post`); `rollbot report RUN_ID` prints it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.context import Context
from jobs.core.durations import format_duration
from jobs.core.exceptions import RollbotError, RunNotFoundError
from jobs.core.redis_values import text
from jobs.records import audit
from jobs.records.alerts import Alert
from jobs.records.audit import AuditEntry
from jobs.records.incidents import Incident
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.model import Runbook
from jobs.slack.blocks import ICONS, RESULT_WORDS
from jobs.slack.notifier import DeliveryFailed

logger = logging.getLogger(__name__)

FAMILY_SCAN_LIMIT = 500  # runs created after the family's first one that are looked at
AUDIT_LOOKBACK = timedelta(hours=1)  # audit read from this long before the first event (approvals come first)
AUDIT_LOOKAHEAD = timedelta(days=1)  # ...to this long after the last one (late acknowledgments, resolutions)
DEFAULT_RECOVERY_TARGET = 3600.0
# The manual's "Lessons Learned Integration — Post-Rollback Actions", for runbooks without their own.
MANUAL_POST_ROLLBACK_ACTIONS = (
    "Incident Report: Document what triggered rollback",
    "Root Cause Analysis: 5 Whys analysis of failure mode",
    "Process Improvement: Update rollback procedures based on experience",
    "Test Enhancement: Add tests to catch the failure mode",
    "Documentation Update: Revise this document with new insights",
)
_FINAL = ("succeeded", "failed", "timed_out", "budget_exceeded", "cancelled", "interrupted", "refused")
_BOT_ACTORS = frozenset({"rollbot"})
_ARG_LIMIT = 160


@dataclass(frozen=True)
class ReportData:
    """Everything a report is made of, read from Redis once."""

    runs: list[RunRecord]  # the rollback family, oldest first
    subject: str  # the run the report was asked for
    validations: list[RunRecord] = field(default_factory=list)
    incident: Incident | None = None
    alert: Alert | None = None
    audit: list[AuditEntry] = field(default_factory=list)


@dataclass(frozen=True, order=True)
class Event:
    """One line of the timeline. Ordered by time, then by the order events were added."""

    at: datetime
    seq: int
    what: str = field(compare=False)
    who: str = field(default="", compare=False)


# --- reading -----------------------------------------------------------------------------------


def gather(ctx: Context, run_id: str) -> ReportData:
    """Read the family of rollback `run_id` and everything around it. `RunNotFoundError` for an
    unknown run, `RollbotError` for a run that is not a rollback.
    """
    record = ctx.runs.get(run_id)
    if record.kind != "rollback":
        raise RollbotError(f"Run `{run_id}` is a {record.kind} run: incident reports are made for rollback runs.")
    chain = _ancestry(ctx, record)
    root = chain[0]
    later = _runs_created_since(ctx, root.created_at)
    family = _family(chain, later)
    validations = _validations_after(family, later)
    incident = ctx.incidents.get(root.incident_key) if root.incident_key else None
    alert_id = next((r.alert_id for r in family if r.alert_id), None)
    alert = ctx.alerts.get(alert_id) if alert_id else None
    return ReportData(
        runs=family,
        subject=run_id,
        validations=validations,
        incident=incident,
        alert=alert,
        audit=_audit_entries(ctx, family, validations, incident, alert),
    )


def _ancestry(ctx: Context, record: RunRecord) -> list[RunRecord]:
    """`record` and its parents, the family's first run first (followed while they exist; a cycle stops it)."""
    chain = [record]
    while (parent_id := chain[0].parent_run_id) and parent_id not in {r.run_id for r in chain}:
        try:
            chain.insert(0, ctx.runs.get(parent_id))
        except RunNotFoundError:
            break
    return chain


def _runs_created_since(ctx: Context, since: datetime) -> list[RunRecord]:
    ids = ctx.redis.zrangebyscore(ctx.keys.runs, since.timestamp(), "+inf", start=0, num=FAMILY_SCAN_LIMIT)
    found = []
    for raw in ids:
        try:
            found.append(ctx.runs.get(text(raw)))
        except RunNotFoundError:
            continue
    return sorted(found, key=lambda r: (r.created_at, r.run_id))


def _family(chain: list[RunRecord], later: list[RunRecord]) -> list[RunRecord]:
    """The chain and every later run whose parent is in the family (parents are always created first)."""
    members = {r.run_id: r for r in chain}
    for run in later:
        if run.kind == "rollback" and run.parent_run_id in members:
            members[run.run_id] = run
    return sorted(members.values(), key=lambda r: (r.created_at, r.run_id))


def _validations_after(family: list[RunRecord], later: list[RunRecord]) -> list[RunRecord]:
    """Validation runs of the service requested after the family's first run, and before the next
    rollback of the service that is not part of the family (that is another incident's).
    """
    ids = {r.run_id for r in family}
    first = family[0]
    boundary = next(
        (r.created_at for r in later if r.kind == "rollback" and r.service == first.service and r.run_id not in ids),
        None,
    )
    return [
        r
        for r in later
        if r.kind == "validation"
        and r.service == first.service
        and r.created_at >= first.created_at
        and (boundary is None or r.created_at < boundary)
    ]


def _audit_entries(
    ctx: Context,
    family: list[RunRecord],
    validations: list[RunRecord],
    incident: Incident | None,
    alert: Alert | None,
) -> list[AuditEntry]:
    """Audit entries naming a run of the report, its incident or its alert, oldest first. Read from
    a little before the first event to a day after the last one (to now while a run is active).
    """
    runs = [*family, *validations]
    run_ids = {r.run_id for r in runs}
    key = family[0].incident_key
    alert_id = alert.alert_id if alert else None
    times = [t for r in runs for t in (r.created_at, r.ended_at) if t is not None]
    if alert is not None:
        times += [t for t in (alert.first_seen, alert.last_seen, alert.resolved_at) if t is not None]
    if incident is not None:
        times += [t for t in (incident.opened_at, incident.resolved_at) if t is not None]
    since = min(times) - AUDIT_LOOKBACK
    until = None if any(r.is_active for r in runs) else max(times) + AUDIT_LOOKAHEAD
    return [
        entry
        for entry in audit.read(ctx.redis, ctx.keys, since=since, until=until)
        if entry.run_id in run_ids
        or (key is not None and entry.args.get("key") == key)
        or (alert_id is not None and entry.args.get("alert_id") == alert_id)
    ]


# --- rendering ---------------------------------------------------------------------------------


def build_report(ctx: Context, run_id: str, runbook: Runbook | None) -> str:
    """The Markdown report of rollback `run_id`'s family (redacted)."""
    return ctx.redactor(render(gather(ctx, run_id), runbook))


def render(data: ReportData, runbook: Runbook | None) -> str:
    """The report as Markdown: summary, timeline, recovery time, budgets, who did what, steps,
    post-rollback actions and a five-whys template. Deterministic for the same data.
    """
    target = runbook.recovery_target if runbook else DEFAULT_RECOVERY_TARGET
    actions = (runbook.post_rollback_actions if runbook else []) or list(MANUAL_POST_ROLLBACK_ACTIONS)
    first = data.runs[0]
    sections = [
        _title(data, runbook),
        _summary(data, runbook, target),
        _timeline(data),
        _recovery(data, target),
        _budgets(data),
        _who(data),
        _steps(data),
        _actions(actions, from_runbook=bool(runbook and runbook.post_rollback_actions)),
        _five_whys(first),
    ]
    return "\n\n".join(s.rstrip("\n") for s in sections) + "\n"


def _title(data: ReportData, runbook: Runbook | None) -> str:
    first = data.runs[0]
    phase = runbook.phases.get(first.phase) if runbook else None
    title = f" — {phase.title}" if phase else ""
    ids = " → ".join(f"`{r.run_id}`" for r in data.runs)
    return (
        f"# Incident report: {first.service} rollback {first.phase}{title}\n\n"
        f"Runs {ids} · report for `{data.subject}` · times in UTC"
    )


def _summary(data: ReportData, runbook: Runbook | None, target: float) -> str:
    first, last = data.runs[0], data.runs[-1]
    lines = ["## Summary", "", f"- **Service:** {first.service}"]
    phase = runbook.phases.get(first.phase) if runbook else None
    if phase is not None:
        lines.append(f"- **Phase:** {first.phase} ({phase.title}, risk {phase.risk})")
    if data.alert is not None:
        alert = data.alert
        value = f" = {alert.first_value:g}" if alert.first_value is not None else ""
        lines.append(
            f"- **Alert:** `{alert.alert_id}` {alert.metric}{value} (threshold {alert.threshold or 'n/a'}), "
            f"first seen {_time(alert.first_seen)}, seen {alert.count}×, now {alert.state}"
        )
    lines.append(f"- **Runs:** {len(data.runs)}")
    for run in data.runs:
        relation = _relation(run, data.runs)
        lines.append(
            f"  - `{run.run_id}` {run.phase} {run.level or ''}".rstrip()
            + f" by {_who_name(run.actor)}{relation}: **{RESULT_WORDS[run.status]}**"
            + (f" after {duration_text(_elapsed(run) or 0)}" if _elapsed(run) is not None else "")
        )
    lines.append(f"- **Outcome:** {_outcome(data)}")
    recovery = _recovery_window(data)
    if recovery is not None:
        start, end, _start_what, _end_what = recovery
        seconds = (end - start).total_seconds()
        verdict = "within" if seconds <= target else "**over**"
        lines.append(f"- **Recovery time:** {duration_text(seconds)} ({verdict} the {format_duration(target)} target)")
    else:
        lines.append(f"- **Recovery time:** not recovered (target {format_duration(target)})")
    if data.incident is not None:
        lines.append(f"- **PagerDuty:** {_incident_line(data.incident)}")
    elif last.incident_key:
        lines.append("- **PagerDuty:** not paged")
    if data.validations:
        passed = sum(1 for v in data.validations if v.status == "succeeded")
        lines.append(f"- **Validation runs after the rollback:** {len(data.validations)} ({passed} succeeded)")
    return "\n".join(lines)


def _relation(run: RunRecord, runs: list[RunRecord]) -> str:
    parent = next((r for r in runs if r.run_id == run.parent_run_id), None)
    if parent is None:
        return ""
    if parent.level == run.level and parent.phase == run.phase:
        return f", retry of `{parent.run_id}`"
    return f", escalation from `{parent.run_id}` ({parent.level} → {run.level})"


def _incident_line(incident: Incident) -> str:
    parts = [f"incident `{incident.key}` ({incident.status})"]
    if incident.paged_at:
        parts.append(f"paged {_time(incident.paged_at)}")
    if incident.acknowledged_by:
        parts.append(f"acknowledged by {incident.acknowledged_by}")
    if incident.resolved_at:
        by = f" by {incident.resolved_by}" if incident.resolved_by else ""
        parts.append(f"resolved {_time(incident.resolved_at)}{by}")
    if incident.pd_url:
        parts.append(incident.pd_url)
    return ", ".join(parts)


def _outcome(data: ReportData) -> str:
    last = data.runs[-1]
    if last.is_active:
        return f"in progress: `{last.run_id}` is {last.status}"
    if last.status == "succeeded":
        words = f"recovered: rollback `{last.run_id}` succeeded at {_time(last.ended_at)}"
        if data.alert is not None and data.alert.is_open:
            words += f" (the alert is still {data.alert.state}: health has not confirmed it yet)"
        return words
    resolved = data.incident.resolved_at if data.incident else None
    if resolved is not None and last.ended_at is not None and resolved >= last.ended_at:
        return f"the last rollback {RESULT_WORDS[last.status]}; the incident was resolved at {_time(resolved)}"
    return f"**not recovered**: the last rollback `{last.run_id}` {RESULT_WORDS[last.status]}"


def _recovery_window(data: ReportData) -> tuple[datetime, datetime, str, str] | None:
    """(start, end, what started it, what ended it): the first alert or request to the final
    successful run's end, else to the incident's resolution; None while not recovered.
    """
    first = data.runs[0]
    ids = {run.run_id for run in data.runs}
    asked = [e.time for e in data.audit if e.action == "approval.request" and e.run_id in ids]  # two-person rule
    requested = min([first.created_at, *asked])
    if data.alert is not None and data.alert.first_seen <= requested:
        start, start_what = data.alert.first_seen, f"first alert `{data.alert.alert_id}`"
    elif requested < first.created_at:
        start, start_what = requested, f"approval request of `{first.run_id}`"
    else:
        start, start_what = first.created_at, f"request of `{first.run_id}`"
    last = data.runs[-1]
    if last.status == "succeeded" and last.ended_at is not None:
        return start, last.ended_at, start_what, f"end of the successful rollback `{last.run_id}`"
    resolved = data.incident.resolved_at if data.incident else None
    if resolved is not None and not last.is_active and last.ended_at is not None and resolved >= last.ended_at:
        return start, resolved, start_what, "resolution of the PagerDuty incident"
    return None


def _recovery(data: ReportData, target: float) -> str:
    lines = ["## Recovery time", ""]
    window = _recovery_window(data)
    if window is None:
        lines.append(f"Not recovered yet. Target: {format_duration(target)} (the manual's recovery target).")
        return "\n".join(lines)
    start, end, start_what, end_what = window
    seconds = (end - start).total_seconds()
    if seconds <= target:
        verdict = f"within the {format_duration(target)} target ({format_duration(target - seconds)} to spare)"
    else:
        verdict = f"**over** the {format_duration(target)} target by {format_duration(seconds - target)}"
    lines += [
        "| From | To | Recovery time | Target | Verdict |",
        "|---|---|---|---|---|",
        f"| {_time(start)} ({start_what}) | {_time(end)} ({end_what}) | {duration_text(seconds)} "
        f"| {format_duration(target)} | {_cell(verdict)} |",
    ]
    return "\n".join(lines)


def _budgets(data: ReportData) -> str:
    lines = [
        "## Budget compliance",
        "",
        "| Run | Level | Status | Elapsed | Budget | Used | Within budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in data.runs:
        elapsed = _elapsed(run)
        if elapsed is None:
            used, within = "—", "— (no steps ran)" if not run.is_active else "— (running)"
            took = "—"
        else:
            used = f"{elapsed / run.budget:.0%}"
            within = "yes" if elapsed <= run.budget and run.status != "budget_exceeded" else "**no**"
            took = duration_text(elapsed)
        lines.append(
            f"| `{run.run_id}` | {run.phase} {run.level or ''} | {RESULT_WORDS[run.status]} | {took} "
            f"| {format_duration(run.budget)} | {used} | {within} |"
        )
    return "\n".join(lines)


def _elapsed(run: RunRecord) -> float | None:
    if run.elapsed is not None:
        return run.elapsed
    if run.started_at is not None and run.ended_at is not None:
        return (run.ended_at - run.started_at).total_seconds()
    return None


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
        found.add(alert.first_seen, what, _who_name(alert.posted_by or alert.source))
    if data.incident is not None:
        found.add(data.incident.paged_at, f"PagerDuty took the page for incident `{data.incident.key}`", "`rollbot`")
    for run in data.runs:
        _run_events(run, data.runs, found)
    for run in data.validations:
        _validation_events(run, found)
    runs = {r.run_id: r for r in [*data.runs, *data.validations]}
    for entry in data.audit:
        if not _covered(entry, runs, data):
            found.add(entry.time, _audit_words(entry), _who_name(entry.actor))
    if data.incident is not None:
        incident = data.incident
        if not any(e.action == "stakeholders.notified" for e in data.audit):
            found.add(incident.stakeholders_notified_at, "Business stakeholders notified",
                      _who_name(incident.stakeholders_notified_by))  # fmt: skip
        by = _cell(incident.resolved_by) if incident.resolved_by else "`rollbot`"  # None: rollbot's Events API resolve
        found.add(incident.resolved_at, f"Incident `{incident.key}` resolved", by)
    if data.alert is not None and data.alert.resolved_at is not None:
        found.add(data.alert.resolved_at, f"Alert resolved: {data.alert.resolution or 'recovered'}", "`rollbot`")
    return sorted(found.events)


def _run_events(run: RunRecord, family: list[RunRecord], found: _Events) -> None:
    target = f"{run.phase} {run.level or ''}".rstrip()
    found.add(run.created_at, f"Rollback {target} requested (`{run.run_id}`{_relation(run, family)})",
              _who_name(run.actor))  # fmt: skip
    if run.started_at is not None:
        checkpoint = f", to checkpoint {run.checkpoint_tag}" if run.checkpoint_tag else ""
        found.add(run.started_at, f"Rollback `{run.run_id}` started (budget {format_duration(run.budget)}{checkpoint})")
    for step in run.steps:
        found.add(step.started_at, _step_words(run, step))
    if run.ended_at is not None:
        elapsed = _elapsed(run)
        took = f" after {duration_text(elapsed)} of {format_duration(run.budget)}" if elapsed is not None else ""
        why = f": {run.error}" if run.error and run.status != "succeeded" else ""
        head = f", HEAD {run.head_after[:12]}" if run.head_after and run.status == "succeeded" else ""
        who = _who_name(run.cancelled_by) if run.status == "cancelled" else ""
        found.add(run.ended_at, f"Rollback `{run.run_id}` {RESULT_WORDS[run.status]}{took}{head}{why}", who)


def _step_words(run: RunRecord, step: StepRecord) -> str:
    took = f" in {duration_text(step.duration)}" if step.duration is not None else ""
    detail = f" — {_step_detail(step)}" if step.status != "succeeded" and _step_detail(step) else ""
    where = f"`{run.run_id}` step {step.index + 1}/{len(run.steps)}"
    return f"{ICONS[step.status]} {where} {step.title}: {step.status}{took}{detail}"


def _step_detail(step: StepRecord) -> str:
    """The step's detail, with its exit code when the detail does not say it."""
    detail = _one_line(step.detail or "")
    if step.exit_code and "exit code" not in detail:
        detail = f"{detail} (exit code {step.exit_code})".strip()
    return detail


def _validation_events(run: RunRecord, found: _Events) -> None:
    found.add(run.created_at, f"Validation {run.phase} requested (`{run.run_id}`)", _who_name(run.actor))
    if run.started_at is not None:
        found.add(run.started_at, f"Validation `{run.run_id}` started")
    if run.ended_at is not None:
        checked = [s for s in run.steps if s.status != "skipped"]
        passed = [s for s in checked if s.status == "succeeded"]
        failing = [s.title for s in checked if s.status != "succeeded"]
        elapsed = _elapsed(run)
        took = f" after {duration_text(elapsed)}" if elapsed is not None else ""
        failed = f"; not passed: {', '.join(failing)}" if failing else ""
        found.add(run.ended_at, f"Validation `{run.run_id}` {RESULT_WORDS[run.status]}{took}: "
                                f"{len(passed)}/{len(checked)} checks passed{failed}")  # fmt: skip


def _lifecycle(entry: AuditEntry, runs: dict[str, RunRecord]) -> bool:
    """An entry of a run's own life (queued request, start, end) that its record already tells."""
    run = runs.get(entry.run_id or "")
    if run is None:
        return False
    noun, _, verb = entry.action.partition(".")
    if noun == "step":
        return True
    if noun == "run":
        return verb in _FINAL
    return noun == run.kind and (verb in ("start", "end", *_FINAL) or (verb == "request" and entry.result == "queued"))


def _covered(entry: AuditEntry, runs: dict[str, RunRecord], data: ReportData) -> bool:
    """Whether an audit entry tells what the records already put in the timeline."""
    if _lifecycle(entry, runs):
        return True
    if entry.action == "pagerduty.trigger" and entry.result == "delivered":
        return data.incident is not None and data.incident.paged_at is not None
    if entry.action == "pagerduty.resolve" and entry.result == "delivered":
        return data.incident is not None and data.incident.resolved_at is not None
    if entry.action == "alert.received":
        return data.alert is not None and entry.args.get("alert_id") == data.alert.alert_id
    return False


def _audit_words(entry: AuditEntry) -> str:
    args = {k: v for k, v in sorted(entry.args.items()) if v not in (None, "", [], {}) and k not in ("key",)}
    shown = ", ".join(f"{k}={_short(v)}" for k, v in args.items())
    run = f" (`{entry.run_id}`)" if entry.run_id else ""
    return f"`{entry.action}` → {entry.result}{run}" + (f" · {shown}" if shown else "")


def _timeline(data: ReportData) -> str:
    events = timeline(data)
    lines = ["## Timeline", ""]
    if not events:
        return "\n".join([*lines, "Nothing recorded."])
    zero = events[0].at
    lines += ["| Time (UTC) | Elapsed | Event | Who |", "|---|---|---|---|"]
    for event in events:
        lines.append(f"| {_time(event.at)} | {_offset(event.at - zero)} | {_cell(event.what)} | {_cell(event.who)} |")
    return "\n".join(lines)


# --- people ------------------------------------------------------------------------------------


def _who(data: ReportData) -> str:
    """People (and automation, integrations, PagerDuty users) and what they did, in the order they
    first acted. rollbot's own doings are in the timeline.
    """
    deeds: dict[str, list[tuple[datetime, str]]] = {}

    def did(actor: str | None, at: datetime | None, what: str) -> None:
        if actor and at is not None and actor not in _BOT_ACTORS:
            deeds.setdefault(actor, []).append((at, what))

    for run in [*data.runs, *data.validations]:
        target = f"{run.kind} {run.phase} {run.level or ''}".rstrip()
        did(run.actor, run.created_at, f"requested {target} (`{run.run_id}`)")
    cancels = {e.run_id for e in data.audit if e.action == "run.cancel"}
    for run in data.runs:
        if run.status == "cancelled" and run.run_id not in cancels:
            did(run.cancelled_by, run.ended_at, f"cancelled `{run.run_id}`")
    runs = {r.run_id: r for r in [*data.runs, *data.validations]}
    for entry in data.audit:
        if not _lifecycle(entry, runs):
            did(entry.actor, entry.time, _audit_words(entry))
    incident = data.incident  # acknowledgments are audited (webhook or button); the summary names the owner too
    if incident is not None and not any(e.action == "stakeholders.notified" for e in data.audit):
        did(incident.stakeholders_notified_by, incident.stakeholders_notified_at, "notified business stakeholders")
    lines = ["## Who did what", ""]
    if not deeds:
        return "\n".join([*lines, "Nobody but rollbot."])
    for actor in sorted(deeds, key=lambda name: (min(deeds[name])[0], name)):
        lines.append(f"- {_who_name(actor)}")
        lines += [f"  - {_time(at)} {what}" for at, what in sorted(deeds[actor], key=lambda deed: deed[0])]
    return "\n".join(lines)


def _who_name(actor: str | None) -> str:
    """Actors as they are recorded: Slack user IDs, `cli:<os user>`, `automation`, `pagerduty:<name>`."""
    return f"`{actor}`" if actor else ""


# --- steps, actions, five whys -----------------------------------------------------------------


def _steps(data: ReportData) -> str:
    lines = ["## Steps"]
    for run in data.runs:
        lines += [
            "",
            f"### `{run.run_id}` — {run.phase} {run.level or ''}".rstrip() + f": {RESULT_WORDS[run.status]}",
            "",
        ]
        if run.checkpoint_tag or run.head_before or run.head_after:
            commit = f" ({run.checkpoint_commit[:12]})" if run.checkpoint_commit else ""
            lines.append(
                f"Checkpoint {run.checkpoint_tag or '—'}{commit} · HEAD before {(run.head_before or '—')[:12]} "
                f"· HEAD after {(run.head_after or '—')[:12]}"
            )
            lines.append("")
        if not run.steps:
            lines.append(f"No steps ran{': ' + _one_line(run.error) if run.error else ''}.")
            continue
        lines += ["| # | Step | Status | Started | Duration | Detail |", "|---|---|---|---|---|---|"]
        for step in run.steps:
            started = _time(step.started_at) if step.started_at else "—"
            took = duration_text(step.duration) if step.duration is not None else "—"
            lines.append(
                f"| {step.index + 1} | {_cell(step.title)} | {ICONS[step.status]} {step.status} | {started} "
                f"| {took} | {_cell(_step_detail(step))} |"
            )
    return "\n".join(lines)


def _actions(actions: Iterable[str], from_runbook: bool) -> str:
    source = "the runbook's `post_rollback_actions`" if from_runbook else "the manual's"
    lines = ["## Post-rollback actions", "", f"From {source}; tick them off as they are done.", ""]
    lines += [f"- [ ] {_one_line(action)}" for action in actions]
    return "\n".join(lines)


def _five_whys(first: RunRecord) -> str:
    return "\n".join([
        "## Root cause analysis: five whys",
        "",
        f"Problem: {first.service} needed a rollback of {first.phase}. Ask why until the answer is a cause "
        "that can be fixed, not a symptom.",
        "",
        "1. Why did it happen?  ",
        "   _answer_",
        "2. Why did that happen?  ",
        "   _answer_",
        "3. Why did that happen?  ",
        "   _answer_",
        "4. Why did that happen?  ",
        "   _answer_",
        "5. Why did that happen?  ",
        "   _answer_",
        "",
        "- **Root cause:** _…_",
        "- **Contributing factors:** _…_",
        "- **What caught it / what should have caught it earlier:** _…_",
        "- **Follow-up owners and dates:** _…_",
    ])  # fmt: skip


# --- formatting helpers ------------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    """Durations in reports: hundredths under 10 s (`0.03s`, `2.50s`), else as elsewhere (`1m30s`)."""
    return f"{seconds:.2f}s" if seconds < 10 else format_duration(seconds)


def _time(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S}" if when is not None else "—"


def _offset(delta: timedelta) -> str:
    """`+0:03:12` (hours:minutes:seconds; tenths under a minute)."""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"+{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _cell(value: str) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    return _one_line(value).replace("|", "\\|")


def _short(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    shown = _one_line(shown)
    return shown if len(shown) <= _ARG_LIMIT else shown[: _ARG_LIMIT - 1] + "…"


# --- posting -----------------------------------------------------------------------------------


def post(ctx: Context, client: WebClient, run_id: str, runbook: Runbook | None) -> str:
    """Upload the report as `<run id>-report.md` into the run message's thread, once.
    `DeliveryFailed` (so RQ retries) while the message is not posted yet or Slack fails.
    """
    key = ctx.keys.run_slack(run_id)
    state = {text(k): text(v) for k, v in ctx.redis.hgetall(key).items()}
    if state.get("report_uploaded"):
        return "already posted"
    channel, ts = state.get("channel"), state.get("ts")
    if not (channel and ts):
        raise DeliveryFailed(f"run {run_id} has no Slack message yet; its report waits for it")
    try:
        record = ctx.runs.get(run_id)
    except RunNotFoundError:
        logger.warning("run %s: gone from Redis, no incident report to post", run_id)
        return "no such run"
    content = build_report(ctx, run_id, runbook)
    target = f"{record.phase} {record.level or ''}".rstrip()
    try:
        client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            content=content,
            filename=f"{run_id}-report.md",
            title=f"Incident report: {record.service} {target} ({run_id})",
        )
    except (SlackApiError, SlackClientError, OSError) as error:
        logger.warning("run %s: incident report not uploaded yet: %s", run_id, error)
        raise DeliveryFailed(f"incident report of {run_id} not uploaded yet: {error}") from error
    ctx.redis.hset(key, "report_uploaded", "1")
    return "posted"
