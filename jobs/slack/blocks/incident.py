"""Block Kit for PagerDuty incidents: the incident card, phone escalation, late pages, stakeholder reminders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.metadata import Metadata

from jobs.core.durations import format_duration
from jobs.core.ids import ActionId, MetadataType
from jobs.records.incidents import Incident
from jobs.runbook.model import Contacts, Escalation
from jobs.slack.blocks.words import clip, who

# --- PagerDuty incidents ---------------------------------------------------------------------


def incident_card(incident: Incident, policy: Escalation | None) -> tuple[str, list[Block], Metadata]:
    """The incident's card in the alert channel: who owns it now, and what to do."""
    status_line = {
        "pending": "⏳ Paging PagerDuty…",
        "triggered": "🔔 Paged — *nobody has acknowledged it yet*",
        "acknowledged": f"👤 Acknowledged by {incident.acknowledged_by or 'someone'}",
        "resolved": f"✅ Resolved{' by ' + incident.resolved_by if incident.resolved_by else ''}",
    }[incident.status]
    if incident.phone_escalation_posted and incident.paged_at is None:
        status_line += " — *PagerDuty could not be paged yet: escalate by phone*"
    context = [f"opened {incident.opened_at:%H:%M} UTC"]
    if incident.run_id:
        context.append(f"run `{incident.run_id}`")
    if incident.pd_url:
        context.append(f"<{incident.pd_url}|PagerDuty incident>")
    if incident.assignees:
        context.append("assigned to " + ", ".join(incident.assignees))
    context += _communication(incident, policy)
    title = f"PagerDuty incident: {incident.title}"
    card: list[Block] = [
        HeaderBlock(text=("🚨 " if incident.is_open else "✅ ") + "Incident"),
        SectionBlock(text=MarkdownTextObject(text=clip(f"*{incident.title}*\n{status_line}"))),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]),
    ]
    buttons = []
    if incident.is_open and incident.status != "acknowledged":
        buttons.append(ButtonElement(text="Acknowledge", action_id=ActionId.PD_ACKNOWLEDGE, value=incident.key,
                                     style="primary"))  # fmt: skip
    if incident.is_open:
        buttons.append(ButtonElement(text="Resolve", action_id=ActionId.PD_RESOLVE, value=incident.key))
    if incident.is_open and incident.stakeholders_notified_at is None:
        buttons.append(ButtonElement(text="Stakeholders notified", action_id=ActionId.STAKEHOLDERS_NOTIFIED,
                                     value=incident.key))  # fmt: skip
    if incident.is_open and not incident.customer_facing_by:
        buttons.append(ButtonElement(text="Customer-facing", action_id=ActionId.INCIDENT_CUSTOMER_FACING,
                                     value=incident.key))  # fmt: skip
    if buttons:
        card.append(ActionsBlock(elements=buttons))
    metadata = Metadata(event_type=MetadataType.INCIDENT,
                        event_payload={"incident_key": incident.key, "run_id": incident.run_id or "",
                                       "status": incident.status})  # fmt: skip
    return f"{title} — {status_line}", card, metadata


def _communication(incident: Incident, policy: Escalation | None) -> list[str]:
    """The card's lines about the communication clocks: customer-facing, stakeholders, executives,
    status page.
    """
    lines = []
    if incident.customer_facing_by:
        lines.append(f"*customer-facing* ({who(incident.customer_facing_by)})")
    if incident.stakeholders_notified_at:
        mail = incident.stakeholder_mail
        by_mail = f" (e-mailed to {len(mail.recipients)})" if mail else ""
        lines.append(f"stakeholders notified by {who(incident.stakeholders_notified_by or '?')}{by_mail} at "
                     f"{incident.stakeholders_notified_at:%H:%M} UTC")  # fmt: skip
    elif incident.is_open and policy is not None:
        due = incident.opened_at.timestamp() + policy.stakeholders_within
        lines.append(f"stakeholders not notified yet (due <!date^{int(due)}^{{time}}|in "
                     f"{format_duration(policy.stakeholders_within)}>)")  # fmt: skip
    if incident.executive_notified_at:
        lines.append(f"executives notified at {incident.executive_notified_at:%H:%M} UTC")
    if incident.statuspage_id:
        done = "resolved" if incident.statuspage_resolved_at else "published"
        lines.append(f"status page incident `{incident.statuspage_id}` {done}")
    return lines


def phone_escalation(incident: Incident, reason: str, contacts: Sequence[str]) -> str:
    """What the channel reads while a page cannot be delivered."""
    people = "\n".join(f"• {c}" for c in contacts) or "• (no technical contacts in the runbook)"
    return (f"📞 *Could not page PagerDuty — escalate by phone:*\n{people}\n"
            f"Incident: {incident.title}. Why: {reason}. rollbot keeps trying and will say here when the "
            "page goes through.")  # fmt: skip


def delivered_late(first_failure: datetime, now: datetime, failed_attempts: int) -> str:
    """The note once a page that could not be delivered finally was."""
    late = format_duration((now - first_failure).total_seconds())
    return (f"✅ PagerDuty paged after all — delivered late, {late} after the first attempt "
            f"({failed_attempts} failed attempt{'s' if failed_attempts != 1 else ''}).")  # fmt: skip


def stakeholder_reminder(incident: Incident, contacts: Contacts, policy: Escalation, now: datetime) -> str:
    """The business notification reminder (the manual: alert stakeholders within 15 minutes)."""
    open_for = format_duration((now - incident.opened_at).total_seconds())
    lines = [
        f"⏰ *Business stakeholders have not been notified* — {open_for} since the incident opened "
        f"({incident.title}). The manual wants them told within {format_duration(policy.stakeholders_within)}:"
    ]
    lines += [f"• {c.label}" for c in contacts.business]
    if contacts.executive:
        lines.append(
            f"Customer-facing and over {format_duration(policy.executive_after)}: "
            + "; ".join(c.label for c in contacts.executive)
        )
    if contacts.customer:
        lines.append(
            f"Customer communication for outages over {format_duration(policy.status_page_after)}: "
            + "; ".join(c.label for c in contacts.customer)
        )
    lines.append("Click *Stakeholders notified* on the incident card once done.")
    return "\n".join(lines)  # fmt: skip
