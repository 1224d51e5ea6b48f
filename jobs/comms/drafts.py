"""The words of rollbot's outside communication: the business e-mail, the status page updates, the
executive escalation and the Phase 1 blockers comment. Pure functions of what is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobs.core.durations import format_duration
from jobs.records.incidents import Incident
from jobs.runbook.model import Runbook
from jobs.runbook.people import Contact

NEXT_UPDATE = timedelta(minutes=30)


@dataclass(frozen=True)
class Mail:
    """An e-mail's subject and plain-text body."""

    subject: str
    body: str


@dataclass(frozen=True)
class StatusUpdate:
    """A status page update: title, status (`investigating`, `resolved`), body, affected component."""

    title: str
    status: str
    body: str
    component_id: str | None


def recipients(contacts: Sequence[Contact]) -> list[str]:
    """The addresses among `contacts` (those written as `{name, email}`)."""
    return [c.email for c in contacts if c.email]


def business_mail(incident: Incident, runbook: Runbook, now: datetime) -> Mail:
    """The business stakeholders' notification: what is affected, since when, what is being done,
    the next update time and the incident link.
    """
    state = {"pending": "being paged", "triggered": "paged, awaiting acknowledgment",
             "acknowledged": f"acknowledged by {incident.acknowledged_by or 'the on-call engineer'}",
             "resolved": "resolved"}[incident.status]  # fmt: skip
    since = format_duration((now - incident.opened_at).total_seconds())
    facing = "Yes" if incident.customer_facing_by else "Not known to be"
    link = incident.pd_url or f"the incident card in {runbook.alert_channel}"
    doing = (f"Emergency rollback run {incident.run_id} is being handled by the on-call team."
             if incident.run_id else "The on-call team is responding and may roll back.")  # fmt: skip
    body = "\n".join([
        f"Incident: {incident.title}",
        "",
        f"What is affected: the {runbook.service} service. Customer-facing: {facing}.",
        f"Since: {incident.opened_at:%Y-%m-%d %H:%M} UTC ({since} ago).",
        f"What is being done: {doing} The incident is {state}.",
        f"Next update: by {now + NEXT_UPDATE:%H:%M} UTC.",
        f"Incident link: {link}",
        "",
        "— rollbot, on behalf of the incident team",
    ])  # fmt: skip
    return Mail(subject=f"[Incident] {runbook.service}: {incident.title}"[:200], body=body)


def executive_mail(incident: Incident, runbook: Runbook, now: datetime) -> Mail:
    """The executive escalation: a customer-facing outage past `executive_after`."""
    mail = business_mail(incident, runbook, now)
    open_for = format_duration((now - incident.opened_at).total_seconds())
    head = (f"Executive escalation: a customer-facing outage of {runbook.service} has been open for {open_for} "
            f"(over {format_duration(runbook.escalation.executive_after)}).\n\n")  # fmt: skip
    return Mail(subject=f"[Executive escalation] {runbook.service}: {incident.title}"[:200], body=head + mail.body)


def status_update(incident: Incident, runbook: Runbook, resolved: bool = False) -> StatusUpdate:
    """The status page incident's text: investigating while open, resolved once it is."""
    component = runbook.status_page.component_id
    if resolved:
        body = (f"The issue affecting {runbook.service} has been resolved and the service is operating normally. "
                "We apologize for the inconvenience.")  # fmt: skip
        return StatusUpdate(f"{runbook.service}: degraded service", "resolved", body, component)
    body = (
        f"We are investigating degraded service of {runbook.service} since {incident.opened_at:%H:%M} UTC. "
        "Our team is working on it and rolling back recent changes where needed. Next update within 30 minutes."
    )
    return StatusUpdate(f"{runbook.service}: degraded service", "investigating", body, component)


def blockers_comment(service: str, user: str, findings: str, criteria: list[str], ticked: list[str]) -> str:
    """The Phase 1 blockers comment on the tracking issue (GitHub Markdown)."""
    lines = [f"### Phase 1 blockers ({service})", "", f"Documented by Slack user `{user}` through rollbot.", "",
             "**Emergency stop criteria:**"]  # fmt: skip
    lines += [f"- [{'x' if c in ticked else ' '}] {c}" for c in criteria]
    lines += ["", "**Findings:**", "", findings.strip() or "(none given)", "",
              "Stakeholder review required before Phase 2 starts."]  # fmt: skip
    return "\n".join(lines)
