"""When an incident opens: decide whether it is customer-facing, post the drafted business
notification, check the SMTP server while there is time, and set the status page and executive
clocks. Also the *Customer-facing* click.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.comms import drafts, mail
from jobs.context import Context
from jobs.core.exceptions import DeliveryFailed
from jobs.core.task_names import Task
from jobs.pagerduty.events import sync_card
from jobs.pagerduty.inbound import thread_note
from jobs.records.incidents import Incident
from jobs.runbook.catalog import find_runbook
from jobs.runbook.model import Runbook
from jobs.slack import blocks

logger = logging.getLogger(__name__)

_SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)


def customer_facing_origin(ctx: Context, incident: Incident, runbook: Runbook) -> str | None:
    """`runbook` when its escalation says every incident is customer-facing, `metric` when the
    breached metric is marked so, else None.
    """
    if runbook.escalation.customer_facing:
        return "runbook"
    breached = _breached_metric(ctx, incident)
    if breached is None:
        return None
    source, name = breached
    health = runbook.health.get(source)
    full = f"{source}.{name}"
    limits = [health.metrics.get(name)] if health else []
    limits += [phase.rollback_criteria.get(full) or phase.monitoring.get(full) for phase in runbook.phases.values()]
    return "metric" if any(limit is not None and limit.customer_facing for limit in limits) else None


def _breached_metric(ctx: Context, incident: Incident) -> tuple[str, str] | None:
    """(health source, metric) of the alert behind the incident, if an alert opened it."""
    alert = ctx.alerts.get(incident.key.removeprefix(f"rollbot-{incident.service}-"))
    if alert is None and incident.run_id:
        run = ctx.runs.get(incident.run_id) if ctx.redis.exists(ctx.keys.run(incident.run_id)) else None
        alert = ctx.alerts.get(run.alert_id) if run is not None and run.alert_id else None
    if alert is None:
        return None
    if alert.origin == "monitor":  # its metric is named within its health source
        return alert.source, alert.metric
    source, _, name = alert.metric.partition(".")
    return source, name


def open_clocks(ctx: Context, key: str) -> str:
    """The incident opened: mark it customer-facing if it is, post the business draft in its thread,
    probe SMTP, schedule the status page and executive clocks. Once per opening. `DeliveryFailed`
    (retried) while its card is not posted yet.
    """
    incident = ctx.incidents.get(key)
    if incident is None or not incident.is_open:
        return "not open"
    runbook = find_runbook(ctx, incident.service)
    if runbook is None:
        return "no runbook"
    if not (incident.channel and incident.ts):
        raise DeliveryFailed(f"incident {key} has no card yet; its drafts wait for it")
    marker = f"{ctx.keys.incident(key)}:clocks:{int(incident.opened_at.timestamp())}"
    if not ctx.redis.set(marker, "1", nx=True, ex=30 * 86400):
        return "already started"
    origin = customer_facing_origin(ctx, incident, runbook)
    if origin is not None:
        incident = mark_customer_facing(ctx, key, origin) or incident
    if drafts.recipients(runbook.contacts.business):  # without addresses, the reminder at the deadline does it
        _post_business_draft(ctx, incident, runbook)
    for task, after, purpose in ((Task.STATUSPAGE_DUE, runbook.escalation.status_page_after, "statuspage"),
                                 (Task.EXECUTIVE_DUE, runbook.escalation.executive_after, "executive")):  # fmt: skip
        when = incident.opened_at + timedelta(seconds=after)
        ctx.queue("notify").enqueue_at(when, task, key, job_id=ctx.keys.job(purpose, key),
                                       description=f"{purpose} clock of {key}")  # fmt: skip
    return "started"


def _post_business_draft(ctx: Context, incident: Incident, runbook: Runbook) -> None:
    addresses = drafts.recipients(runbook.contacts.business)
    blocker = None if mail.configured(ctx.settings) else "E-mail is not configured (`SMTP_URL`)"
    draft = drafts.business_mail(incident, runbook, ctx.clock())
    due = int(incident.opened_at.timestamp() + runbook.escalation.stakeholders_within)
    text, draft_blocks = blocks.stakeholder_draft(
        incident.key, draft.subject, draft.body, addresses, due if runbook.escalation.auto_send else None, blocker
    )
    try:
        ctx.slack.chat_postMessage(channel=incident.channel or "", thread_ts=incident.ts, text=text,
                                   blocks=draft_blocks)  # fmt: skip
    except _SLACK_ERRORS as error:
        logger.warning("incident %s: business draft not posted: %s", incident.key, error)
    if blocker is None:
        problem = mail.probe(ctx.settings)
        if problem is not None:
            say_smtp_down(ctx, incident, runbook, problem)


def say_smtp_down(ctx: Context, incident: Incident, runbook: Runbook, problem: str) -> None:
    """Tell the thread, once per incident, that e-mail cannot go out, naming whom to call instead."""
    if not ctx.redis.set(f"{ctx.keys.incident(incident.key)}:smtp-down", "1", nx=True, ex=86400):
        return
    people = "\n".join(f"• {c.label}" for c in runbook.contacts.business) or "• (no business contacts)"
    thread_note(ctx, incident, f"⚠️ *E-mail cannot be sent right now* ({problem}). rollbot keeps trying; "
                               f"call the business contacts instead:\n{people}")  # fmt: skip
    ctx.audit(actor="rollbot", action="stakeholders.email", result="smtp_down", key=incident.key, reason=problem)


def mark_customer_facing(ctx: Context, key: str, by: str, sync: bool = True) -> Incident | None:
    """Mark the incident customer-facing (`by`: `runbook`, `metric` or a Slack user), once; when its
    clocks are already past due, they act now.
    """

    def mark(incident: Incident) -> bool:
        if incident.customer_facing_by is not None:
            return False
        incident.customer_facing_by = by
        return True

    before = ctx.incidents.get(key)
    incident = ctx.incidents.update(key, mark)
    if incident is None or (before is not None and before.customer_facing_by is not None):
        return incident
    ctx.audit(actor=by, action="incident.customer_facing", result="recorded", key=key)
    runbook = find_runbook(ctx, incident.service)
    if runbook is not None and by not in ("runbook", "metric"):
        now = ctx.clock()
        for task, after in ((Task.STATUSPAGE_DUE, runbook.escalation.status_page_after),
                            (Task.EXECUTIVE_DUE, runbook.escalation.executive_after)):  # fmt: skip
            if now >= incident.opened_at + timedelta(seconds=after):
                try:
                    ctx.queue("notify").enqueue(task, key)
                except RedisError as error:
                    logger.error("incident %s: %s not queued: %s", key, task, error)
    if sync:
        sync_card(ctx, key)
    return incident
