"""Gathering a report's data: the rollback family, its incident and alert, the validations
after it and the audit entries that mention any of them, read from Redis once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobs.context import Context
from jobs.core.exceptions import RollbotError, RunNotFoundError
from jobs.core.redis_values import text
from jobs.records import audit
from jobs.records.alerts import Alert
from jobs.records.audit import AuditEntry
from jobs.records.incidents import Incident
from jobs.records.runs import RunRecord

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
FINAL_STATUSES = ("succeeded", "failed", "timed_out", "budget_exceeded", "cancelled", "interrupted", "refused")
BOT_ACTORS = frozenset({"rollbot"})


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
