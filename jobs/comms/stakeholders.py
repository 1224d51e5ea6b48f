"""The business e-mail: sent once per incident (a click and the deadline racing send one mail),
recorded in the incident, the audit and the thread; *Stakeholders notified* is then set.
"""

from __future__ import annotations

import logging

from jobs.comms import clocks, drafts, mail
from jobs.context import Context
from jobs.core.exceptions import MailError
from jobs.pagerduty.escalation import remind_stakeholders
from jobs.pagerduty.events import cancel_reminder, sync_card
from jobs.pagerduty.inbound import thread_note
from jobs.records.incidents import Incident, SentMail
from jobs.runbook.catalog import find_runbook
from jobs.runbook.model import Runbook
from jobs.slack.blocks import who

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 120  # one sender at a time; a sender that died frees it after this


def _claim(ctx: Context, key: str, kind: str) -> bool:
    return bool(ctx.redis.set(f"{ctx.keys.incident(key)}:mail:{kind}", "1", nx=True, ex=CLAIM_SECONDS))


def _release(ctx: Context, key: str, kind: str) -> None:
    ctx.redis.delete(f"{ctx.keys.incident(key)}:mail:{kind}")


def send_business(ctx: Context, key: str, by: str) -> str:
    """E-mail the business contacts about incident `key` (for Slack user `by`, or `rollbot` at the
    deadline), unless it was sent already. `MailError` with `retryable` when the SMTP server did not
    answer (the thread was told, naming whom to call); refusals are said and audited.
    """
    incident = ctx.incidents.get(key)
    runbook = find_runbook(ctx, incident.service) if incident else None
    if incident is None or runbook is None:
        return "unknown incident"
    if incident.stakeholder_mail is not None:
        return "already sent"
    addresses = drafts.recipients(runbook.contacts.business)
    if not addresses or not mail.configured(ctx.settings):
        return "nothing to send"
    if not _claim(ctx, key, "business"):
        return "being sent"
    try:
        return _send_claimed(ctx, key, runbook, addresses, by)
    finally:
        _release(ctx, key, "business")  # only once the mail is recorded: a racing sender then finds it sent


def _send_claimed(ctx: Context, key: str, runbook: Runbook, addresses: list[str], by: str) -> str:
    current = ctx.incidents.get(key)
    if current is None or current.stakeholder_mail is not None:
        return "already sent"
    message = drafts.business_mail(current, runbook, ctx.clock())
    try:
        sent = mail.send(ctx.settings, addresses, message.subject, message.body)
    except MailError as error:
        _failed(ctx, current, runbook, by, error)
        if error.retryable:
            raise
        return "refused"
    if sent.refused:
        _say_refused(ctx, current, by, sent.refused)
    _record(ctx, key, SentMail(by=by, at=ctx.clock(), recipients=sent.accepted, message_id=sent.message_id))
    return "sent"


def _record(ctx: Context, key: str, sent: SentMail) -> None:
    def note(incident: Incident) -> None:
        incident.stakeholder_mail = sent
        if incident.stakeholders_notified_at is None:
            incident.stakeholders_notified_by, incident.stakeholders_notified_at = sent.by, sent.at

    incident = ctx.incidents.update(key, note)
    cancel_reminder(ctx, key)
    ctx.audit(actor=sent.by, action="stakeholders.email", result="sent", key=key, recipients=sent.recipients,
              message_id=sent.message_id)  # fmt: skip
    if incident is not None:
        thread_note(ctx, incident, f"📧 Business stakeholders e-mailed ({', '.join(sent.recipients)}) for "
                                   f"{who(sent.by)}, message id `{sent.message_id}`.")  # fmt: skip
    sync_card(ctx, key)


def _say_refused(ctx: Context, incident: Incident, by: str, refused: dict[str, str]) -> None:
    listed = "; ".join(f"{addr} ({answer})" for addr, answer in refused.items())
    thread_note(ctx, incident, f"⚠️ The SMTP server refused {listed}: tell them another way.")
    ctx.audit(actor=by, action="stakeholders.email", result="refused", key=incident.key, refused=refused)


def _failed(ctx: Context, incident: Incident, runbook: Runbook, by: str, error: MailError) -> None:
    if error.retryable:
        clocks.say_smtp_down(ctx, incident, runbook, error.user_message)
        return
    _say_refused(ctx, incident, by, error.refused or {"(all)": error.user_message})


def at_deadline(ctx: Context, key: str) -> str:
    """`stakeholders_within` passed: send the e-mail by itself (`escalation.auto_send`, addresses,
    `SMTP_URL`), else remind the channel as before. When the server does not answer, the reminder
    is posted too and `MailError` is raised (the job is retried).
    """
    incident = ctx.incidents.get(key)
    if incident is None or not incident.is_open or incident.stakeholders_notified_at is not None:
        return "not needed"
    runbook = find_runbook(ctx, incident.service)
    can_mail = (runbook is not None and runbook.escalation.auto_send and mail.configured(ctx.settings)
                and bool(drafts.recipients(runbook.contacts.business)))  # fmt: skip
    if not can_mail:
        return "posted" if remind_stakeholders(ctx, key) else "not needed"
    try:
        result = send_business(ctx, key, "rollbot")
    except MailError:
        remind_stakeholders(ctx, key)
        raise
    if result == "refused":
        remind_stakeholders(ctx, key)
    return result
