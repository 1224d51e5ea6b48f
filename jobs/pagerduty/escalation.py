"""When runs page PagerDuty, resolve it, and send change events; the business notification clock.

The moments are a run starting and a run ending (however it ends: in its executor, cancelled,
or found interrupted). Each is acted upon once per run, whichever process notices it first.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.context import Context
from jobs.core.durations import format_duration
from jobs.core.task_names import Task
from jobs.pagerduty.events import cancel_reminder, dispatch, new_event, reminder_job_id, sync_card
from jobs.records.incidents import Incident, tagged
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.catalog import find_runbook
from jobs.runbook.model import Escalation, Runbook
from jobs.runs.notify_queue import schedule_report
from jobs.slack import blocks
from jobs.slack.notifier import alert_channel

logger = logging.getLogger(__name__)


def _first_time(ctx: Context, run_id: str, moment: str) -> bool:
    added = ctx.redis.sadd(ctx.keys.run_escalated(run_id), moment)
    ctx.redis.expire(ctx.keys.run_escalated(run_id), 30 * 86400)
    return bool(added)


def details(record: RunRecord) -> dict[str, Any]:
    """`custom_details` of a run's page: what, where it failed, time against budget, who asked."""
    failing = next((s for s in record.steps if s.status not in ("succeeded", "skipped", "pending")), None)
    return {
        "run_id": record.run_id,
        "service": record.service,
        "phase": record.phase,
        "level": record.level,
        "status": record.status,
        "failing_step": failing.title if failing else None,
        "failing_step_detail": failing.detail if failing else None,
        "elapsed": format_duration(record.elapsed or 0),
        "budget": format_duration(record.budget),
        "requester": record.actor,
        "checkpoint": record.checkpoint_tag,
        "head": record.head_after,
    }


def on_run_changed(ctx: Context, run_id: str) -> list[threading.Thread]:
    """Act on the run's start or end if that moment was not acted upon yet. Returns the threads
    delivering to PagerDuty (a process about to exit may wait for them a little).
    """
    try:
        record = ctx.runs.get(run_id)
    except RedisError as error:
        logger.error("run %s: escalation skipped, Redis unreachable: %s", run_id, error)
        return []
    if record.rehearsal:
        return []  # a rehearsal never pages
    if record.status == "running" and _first_time(ctx, run_id, "started"):
        return _started(ctx, record)
    if not record.is_active and record.status != "refused" and _first_time(ctx, run_id, "ended"):
        return _ended(ctx, record)
    return []


class RunEscalation:
    """A run observer: acts on the run's start and end, and lets the process give the resulting
    PagerDuty deliveries a moment before it exits (the backstop jobs do the rest).
    """

    def __init__(self, ctx: Context, run_id: str) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.threads: list[threading.Thread] = []

    def changed(self, step: StepRecord | None) -> None:
        """Run observer: only run-level changes (step is None) matter here."""
        if step is None:
            self.threads += on_run_changed(self.ctx, self.run_id)

    def wait(self, seconds: float) -> None:
        """Wait up to `seconds` in all for the deliveries started so far."""
        deadline = time.monotonic() + seconds
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _started(ctx: Context, record: RunRecord) -> list[threading.Thread]:
    runbook = find_runbook(ctx, record.service)
    threads = []
    if record.kind == "rollback":
        threads.append(_change(ctx, record, f"Rollback started: {record.service} {blocks.target(record)}"))
    policy = runbook.escalation if runbook else None
    if record.kind == "rollback" and policy and f"{record.phase}/{record.level}" in policy.page_on_start:
        threads += page(ctx, record, f"{record.service}: {blocks.target(record)} rollback started (nuclear option)")
    return threads


def pages_on(ctx: Context, service: str, status: str) -> bool:
    """Whether a rollback of `service` ending with `status` pages (runbook `escalation.page_on`)."""
    runbook = find_runbook(ctx, service)
    return status in (runbook.escalation.page_on if runbook else Escalation().page_on)


def _ended(ctx: Context, record: RunRecord) -> list[threading.Thread]:
    threads = []
    if record.kind == "rollback":
        threads.append(_change(ctx, record, f"Rollback finished ({record.status}): {record.service} "
                               f"{blocks.target(record)}"))  # fmt: skip
    if record.kind == "rollback" and pages_on(ctx, record.service, record.status):
        words = blocks.RESULT_WORDS[record.status]
        threads += page(ctx, record, f"{record.service}: {blocks.target(record)} rollback {words}")
    elif record.kind == "rollback" and record.status == "succeeded" and record.incident_key and not record.alert_id:
        threads += resolve(ctx, record.incident_key, f"run {record.run_id} succeeded")
    if record.alert_id:  # the alert's health decides whether it recovered, not the run's exit code
        _request_recheck(ctx, record)
    schedule_report(ctx, record)  # the incident report, in the run message's thread (never raises)
    return threads


def _request_recheck(ctx: Context, record: RunRecord) -> None:
    """Have the monitor measure the alert's health now that its rollback ended."""
    try:
        ctx.queue("monitor").enqueue(Task.RECHECK_ALERT, record.alert_id,
                                     job_id=ctx.keys.job("recheck", record.run_id),
                                     description=f"health re-check after {record.run_id}")  # fmt: skip
    except RedisError as error:
        logger.error("run %s: health re-check not queued (the next poll does it): %s", record.run_id, error)


def _change(ctx: Context, record: RunRecord, summary: str) -> threading.Thread:
    event = new_event(ctx, "change", summary=summary, source=record.service, custom_details=details(record))
    return dispatch(ctx, event)


def page(ctx: Context, record: RunRecord, summary: str) -> list[threading.Thread]:
    """Open (or re-trigger) the run's incident: one dedup key per run and its retries."""
    key = record.incident_key or f"rollbot-{record.service}-{record.run_id}"
    return page_incident(ctx, key, record.service, summary, details(record), run_id=record.run_id)


def page_incident(
    ctx: Context,
    key: str,
    service: str,
    summary: str,
    evidence: dict[str, Any],
    run_id: str | None = None,
    severity: str | None = None,
) -> list[threading.Thread]:
    """Open (or re-trigger) incident `key` in PagerDuty with `evidence` as its details, at `severity`
    (default: the runbook's); starts the business notification clock.
    """
    runbook = find_runbook(ctx, service)
    now = ctx.clock()
    incident = ctx.incidents.open(Incident(key=key, service=service, title=summary, run_id=run_id, opened_at=now))
    if not incident.is_open:  # paged again after it was resolved: PagerDuty opens a new incident
        incident = ctx.incidents.update(key, lambda old: _reopen(old, summary, run_id, now)) or incident
    severity = severity or (runbook.escalation.severity if runbook else "critical")
    event = new_event(ctx, "trigger", incident_key=key, summary=tagged(summary, key), source=service,
                      severity=severity, custom_details=evidence)  # fmt: skip
    ctx.audit(actor="rollbot", action="pagerduty.page", result="queued", run_id=run_id, key=key)
    if incident.stakeholders_notified_at is None and incident.is_open:
        schedule_reminder(ctx, incident, runbook)
    if incident.is_open:
        start_clocks(ctx, incident)
    return [dispatch(ctx, event)]


CLOCKS_RETRY = Retry(max=12, interval=[1, 2, 3, 5, 10, 20, 30, 60, 120, 300])


def start_clocks(ctx: Context, incident: Incident) -> None:
    """Have a worker start the incident's communication clocks (`jobs.comms`) once its card is posted."""
    opening = f"{incident.key}-{int(incident.opened_at.timestamp())}"
    try:
        ctx.queue("notify").enqueue(Task.OPEN_INCIDENT_CLOCKS, incident.key, retry=CLOCKS_RETRY,
                                    job_id=ctx.keys.job("clocks", opening),
                                    description=f"communication clocks of {incident.key}")  # fmt: skip
    except RedisError as error:
        logger.error("incident %s: communication clocks not started: %s", incident.key, error)


def _reopen(incident: Incident, title: str, run_id: str | None, now: datetime) -> None:
    """The incident as a fresh one: PagerDuty gives a re-triggered, resolved dedup key a new incident."""
    earlier = [*incident.earlier_pd_ids, *([incident.pd_incident_id] if incident.pd_incident_id else [])]
    fresh = Incident(key=incident.key, service=incident.service, title=title, run_id=run_id, opened_at=now,
                     channel=incident.channel, ts=incident.ts, earlier_pd_ids=earlier)  # fmt: skip
    for name in Incident.model_fields:
        setattr(incident, name, getattr(fresh, name))


def resolve(ctx: Context, key: str, why: str) -> list[threading.Thread]:
    """Resolve the incident with an Events API `resolve` on the same dedup key, if it is open."""
    incident = ctx.incidents.get(key)
    if incident is None or not incident.is_open:
        return []
    ctx.audit(actor="rollbot", action="pagerduty.resolve", result="queued", key=key, reason=why)
    return [dispatch(ctx, new_event(ctx, "resolve", incident_key=key, summary=why, source=incident.service))]


# --- the business notification clock -------------------------------------------------------


def schedule_reminder(ctx: Context, incident: Incident, runbook: Runbook | None) -> None:
    """Remind the channel to notify business stakeholders `stakeholders_within` after the incident
    opened (RQ's scheduler), unless someone clicks *Stakeholders notified* first.
    """
    within = runbook.escalation.stakeholders_within if runbook else 900.0
    when = incident.opened_at + timedelta(seconds=within)
    try:
        ctx.queue("notify").enqueue_at(when, Task.REMIND_STAKEHOLDERS, incident.key,
                                       job_id=reminder_job_id(ctx, incident.key),
                                       description=f"stakeholder reminder for {incident.key}")  # fmt: skip
    except RedisError as error:
        logger.error("incident %s: stakeholder reminder not scheduled: %s", incident.key, error)


def remind_stakeholders(ctx: Context, key: str) -> bool:
    """Post the reminder unless stakeholders were notified or the incident is resolved. True if posted."""
    incident = ctx.incidents.get(key)
    if incident is None or incident.stakeholders_notified_at is not None or not incident.is_open:
        return False
    runbook = find_runbook(ctx, incident.service)
    if runbook is None:
        return False
    text = blocks.stakeholder_reminder(incident, runbook.contacts, runbook.escalation, ctx.clock())
    try:
        ctx.slack.chat_postMessage(channel=incident.channel or alert_channel(ctx, runbook), text=text)
    except (SlackApiError, SlackClientError, OSError) as error:
        logger.error("incident %s: stakeholder reminder not posted: %s", key, error)
        raise
    ctx.audit(actor="rollbot", action="stakeholders.remind", result="posted", key=key)
    return True


def stakeholders_notified(ctx: Context, key: str, user: str) -> Incident | None:
    """Record who notified the business stakeholders; the reminder is cancelled."""
    now = ctx.clock()

    def note(incident: Incident) -> bool:
        if incident.stakeholders_notified_at is not None:
            return False
        incident.stakeholders_notified_by, incident.stakeholders_notified_at = user, now
        return True

    incident = ctx.incidents.update(key, note)
    cancel_reminder(ctx, key)
    ctx.audit(actor=user, action="stakeholders.notified", result="recorded", key=key)
    if incident is not None:
        sync_card(ctx, key)
    return incident
