"""The executive clock: a customer-facing incident still open after `executive_after` notifies the
executive contacts once: e-mail to those with addresses, and a PagerDuty trigger to
`PAGERDUTY_EXECUTIVE_ROUTING_KEY` when it is set.
"""

from __future__ import annotations

import logging

import pagerduty

from jobs.comms import drafts, mail
from jobs.context import Context
from jobs.core.exceptions import MailError
from jobs.pagerduty.events import sync_card
from jobs.pagerduty.inbound import thread_note
from jobs.records.incidents import Incident, SentMail, fit_summary
from jobs.runbook.catalog import find_runbook
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


def due(ctx: Context, key: str) -> str:
    """`executive_after` passed: notify the executives if the incident is open and customer-facing."""
    incident = ctx.incidents.get(key)
    if incident is None or not incident.is_open or incident.customer_facing_by is None:
        return "not needed"
    if incident.executive_notified_at is not None:
        return "already notified"
    runbook = find_runbook(ctx, incident.service)
    if runbook is None or not ctx.redis.set(f"{ctx.keys.incident(key)}:executive", "1", nx=True, ex=86400):
        return "not needed"
    said = [_page(ctx, incident, runbook), _mail(ctx, incident, runbook)]
    now = ctx.clock()

    def record(current: Incident) -> None:
        current.executive_notified_at = now

    updated = ctx.incidents.update(key, record) or incident
    people = "; ".join(c.label for c in runbook.contacts.executive) or "(no executive contacts in the runbook)"
    thread_note(ctx, updated, f"📈 *Executive escalation* — customer-facing and still open after the limit: "
                              f"{people}. " + " ".join(s for s in said if s))  # fmt: skip
    ctx.audit(actor="rollbot", action="executive.escalate", result="notified", key=key,
              email=updated.executive_mail.recipients if updated.executive_mail else [],
              paged=bool(ctx.settings.pagerduty_executive_routing_key))  # fmt: skip
    sync_card(ctx, key)
    return "notified"


def _page(ctx: Context, incident: Incident, runbook: Runbook) -> str:
    secret = ctx.settings.pagerduty_executive_routing_key
    if secret is None:
        return ""
    client = pagerduty.EventsApiV2Client(secret.get_secret_value(), base_url=ctx.settings.pagerduty_events_url,
                                         verify=mail.tls_context(ctx.settings), timeout=TIMEOUT_SECONDS)  # fmt: skip
    summary = fit_summary(f"Executive escalation: {incident.title} (customer-facing, {runbook.service})")
    try:
        with client:
            client.trigger(summary, runbook.service, dedup_key=f"{incident.key}-executive", severity="critical",
                           custom_details={"incident_key": incident.key, "opened_at": incident.opened_at.isoformat(),
                                           "pagerduty_url": incident.pd_url})  # fmt: skip
    except pagerduty.Error as error:
        logger.error("incident %s: executive page not delivered: %s", incident.key, error)
        ctx.audit(actor="rollbot", action="executive.page", result="failed", key=incident.key, reason=str(error))
        return f"⚠️ The executive page did not go through ({error}): call them."
    ctx.audit(actor="rollbot", action="executive.page", result="delivered", key=incident.key)
    return "PagerDuty executive escalation triggered."


def _mail(ctx: Context, incident: Incident, runbook: Runbook) -> str:
    addresses = drafts.recipients(runbook.contacts.executive)
    if not addresses or not mail.configured(ctx.settings):
        return ""
    message = drafts.executive_mail(incident, runbook, ctx.clock())
    try:
        sent = mail.send(ctx.settings, addresses, message.subject, message.body)
    except MailError as error:
        ctx.audit(actor="rollbot", action="executive.email", result="failed", key=incident.key,
                  reason=error.user_message)  # fmt: skip
        return f"⚠️ The executive e-mail was not sent ({error.user_message}): call them."
    record = SentMail(by="rollbot", at=ctx.clock(), recipients=sent.accepted, message_id=sent.message_id)

    def note(current: Incident) -> None:
        current.executive_mail = record

    ctx.incidents.update(incident.key, note)
    refused = f" Refused: {'; '.join(sent.refused)}." if sent.refused else ""
    return f"E-mailed {', '.join(sent.accepted)}.{refused}"
