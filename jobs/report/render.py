"""Rendering a report as Markdown: summary, timeline, recovery time, budgets, who did what,
steps, post-rollback actions and a five-whys template. Deterministic for the same data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from jobs.context import Context
from jobs.core.durations import format_duration
from jobs.records.incidents import Incident
from jobs.records.runs import RunRecord
from jobs.report.gather import (
    BOT_ACTORS,
    DEFAULT_RECOVERY_TARGET,
    MANUAL_POST_ROLLBACK_ACTIONS,
    ReportData,
    gather,
)
from jobs.report.metrics import Series, golden_path, success_metrics
from jobs.report.text import (
    clock_time,
    duration_text,
    elapsed_of,
    one_line,
    relation,
    table_cell,
    who_name,
)
from jobs.report.timeline import audit_words, is_lifecycle, step_detail, timeline_table
from jobs.runbook.model import Runbook
from jobs.slack.blocks import ICONS, RESULT_WORDS

logger = logging.getLogger(__name__)

# --- rendering ---------------------------------------------------------------------------------


def build_report(ctx: Context, run_id: str, runbook: Runbook | None) -> str:
    """The Markdown report of rollback `run_id`'s family (redacted)."""
    data = gather(ctx, run_id)
    return ctx.redactor(render(data, runbook, golden_path(ctx, data, runbook)))


def render(data: ReportData, runbook: Runbook | None, series: Series | None = None) -> str:
    """The report as Markdown: summary, timeline, recovery time, budgets, who did what, steps,
    post-rollback actions and a five-whys template. Deterministic for the same data.
    """
    target = runbook.recovery_target if runbook else DEFAULT_RECOVERY_TARGET
    actions = (runbook.post_rollback_actions if runbook else []) or list(MANUAL_POST_ROLLBACK_ACTIONS)
    first = data.runs[0]
    sections = [
        _title(data, runbook),
        _summary(data, runbook, target),
        timeline_table(data),
        _recovery(data, target),
        success_metrics(data, runbook, series, _recovery_window(data), target),
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
            f"first seen {clock_time(alert.first_seen)}, seen {alert.count}×, now {alert.state}"
        )
    lines.append(f"- **Runs:** {len(data.runs)}")
    for run in data.runs:
        related = relation(run, data.runs)
        lines.append(
            f"  - `{run.run_id}` {run.phase} {run.level or ''}".rstrip()
            + f" by {who_name(run.actor)}{related}: **{RESULT_WORDS[run.status]}**"
            + (f" after {duration_text(elapsed_of(run) or 0)}" if elapsed_of(run) is not None else "")
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


def _incident_line(incident: Incident) -> str:
    parts = [f"incident `{incident.key}` ({incident.status})"]
    if incident.paged_at:
        parts.append(f"paged {clock_time(incident.paged_at)}")
    if incident.acknowledged_by:
        parts.append(f"acknowledged by {incident.acknowledged_by}")
    if incident.resolved_at:
        by = f" by {incident.resolved_by}" if incident.resolved_by else ""
        parts.append(f"resolved {clock_time(incident.resolved_at)}{by}")
    if incident.pd_url:
        parts.append(incident.pd_url)
    if incident.customer_facing_by:
        parts.append(f"customer-facing ({who_name(incident.customer_facing_by)})")
    for what, sent in (("stakeholders", incident.stakeholder_mail), ("executives", incident.executive_mail)):
        if sent is not None:
            parts.append(f"{what} e-mailed {clock_time(sent.at)} to {', '.join(sent.recipients)} "
                         f"(`{sent.message_id}`, by {who_name(sent.by)})")  # fmt: skip
    if incident.statuspage_id:
        parts.append(f"status page incident `{incident.statuspage_id}`")
    return ", ".join(parts)


def _outcome(data: ReportData) -> str:
    last = data.runs[-1]
    if last.is_active:
        return f"in progress: `{last.run_id}` is {last.status}"
    if last.status == "succeeded":
        words = f"recovered: rollback `{last.run_id}` succeeded at {clock_time(last.ended_at)}"
        if data.alert is not None and data.alert.is_open:
            words += f" (the alert is still {data.alert.state}: health has not confirmed it yet)"
        return words
    resolved = data.incident.resolved_at if data.incident else None
    if resolved is not None and last.ended_at is not None and resolved >= last.ended_at:
        return f"the last rollback {RESULT_WORDS[last.status]}; the incident was resolved at {clock_time(resolved)}"
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
        f"| {clock_time(start)} ({start_what}) | {clock_time(end)} ({end_what}) | {duration_text(seconds)} "
        f"| {format_duration(target)} | {table_cell(verdict)} |",
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
        elapsed = elapsed_of(run)
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


# --- people ------------------------------------------------------------------------------------


def _who(data: ReportData) -> str:
    """People (and automation, integrations, PagerDuty users) and what they did, in the order they
    first acted. rollbot's own doings are in the timeline.
    """
    deeds: dict[str, list[tuple[datetime, str]]] = {}

    def did(actor: str | None, at: datetime | None, what: str) -> None:
        if actor and at is not None and actor not in BOT_ACTORS:
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
        if not is_lifecycle(entry, runs):
            did(entry.actor, entry.time, audit_words(entry))
    incident = data.incident  # acknowledgments are audited (webhook or button); the summary names the owner too
    if incident is not None and not any(e.action == "stakeholders.notified" for e in data.audit):
        did(incident.stakeholders_notified_by, incident.stakeholders_notified_at, "notified business stakeholders")
    lines = ["## Who did what", ""]
    if not deeds:
        return "\n".join([*lines, "Nobody but rollbot."])
    for actor in sorted(deeds, key=lambda name: (min(deeds[name])[0], name)):
        lines.append(f"- {who_name(actor)}")
        lines += [f"  - {clock_time(at)} {what}" for at, what in sorted(deeds[actor], key=lambda deed: deed[0])]
    return "\n".join(lines)


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
            lines.append(f"No steps ran{': ' + one_line(run.error) if run.error else ''}.")
            continue
        lines += ["| # | Step | Status | Started | Duration | Detail |", "|---|---|---|---|---|---|"]
        for step in run.steps:
            started = clock_time(step.started_at) if step.started_at else "—"
            took = duration_text(step.duration) if step.duration is not None else "—"
            lines.append(
                f"| {step.index + 1} | {table_cell(step.title)} | {ICONS[step.status]} {step.status} | {started} "
                f"| {took} | {table_cell(step_detail(step))} |"
            )
    return "\n".join(lines)


def _actions(actions: Iterable[str], from_runbook: bool) -> str:
    source = "the runbook's `post_rollback_actions`" if from_runbook else "the manual's"
    lines = ["## Post-rollback actions", "", f"From {source}; tick them off as they are done.", ""]
    lines += [f"- [ ] {one_line(action)}" for action in actions]
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
