"""Acknowledgments in: from the Slack card (through the REST API, as the clicking person) and from
PagerDuty's v3 webhooks. Either way the incident card shows who owns the incident now.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

import pagerduty
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.alert_channel import shared_alert_channel
from jobs.context import Context
from jobs.exceptions import RollbotError
from jobs.factory import get_slack_client, pagerduty_rest
from jobs.incidents import Incident, key_in_title
from jobs.pagerduty import cancel_reminder, sync_card

logger = logging.getLogger(__name__)

HANDLED_EVENTS = {
    "incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.escalated",
    "incident.reassigned", "incident.resolved", "incident.reopened", "incident.annotated",
}  # fmt: skip
_SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)


def _slack_email(user: str) -> str | None:
    try:
        answer = get_slack_client().users_info(user=user)
    except _SLACK_ERRORS as error:
        logger.info("no e-mail for Slack user %s: %s", user, error)
        return None
    email = (answer.get("user") or {}).get("profile", {}).get("email")
    return str(email) if email else None


def from_address(ctx: Context, user: str) -> str | None:
    """The `From` of a REST call made for Slack user `user`: their Slack e-mail when it belongs to a
    PagerDuty user, else `PAGERDUTY_FROM_EMAIL`.
    """
    email = _slack_email(user)
    rest = pagerduty_rest(email or ctx.settings.pagerduty_from_email)
    if email and rest is not None:
        with rest:
            if rest.find("users", email, attribute="email") is not None:
                return email
    return ctx.settings.pagerduty_from_email


def _pd_incident_id(rest: pagerduty.RestApiV2Client, incident: Incident) -> str | None:
    if incident.pd_incident_id:
        return incident.pd_incident_id
    found = next(iter(rest.iter_all("incidents", params={"incident_key": incident.key})), None)
    return str(found["id"]) if found else None


def change_status(ctx: Context, key: str, user: str, status: Literal["acknowledged", "resolved"]) -> Incident:
    """Acknowledge or resolve the incident in PagerDuty as the Slack user (REST API with `From`)."""
    incident = ctx.incidents.get(key)
    if incident is None:
        raise RollbotError(f"No incident `{key}`.")
    sender = from_address(ctx, user)
    rest = pagerduty_rest(sender)
    if rest is None or sender is None:
        missing = "PAGERDUTY_API_TOKEN" if rest is None else "PAGERDUTY_FROM_EMAIL"
        thread_note(ctx, incident, f"<@{user}> asked to mark it {status}, but {missing} is not set: "
                                    "do it in PagerDuty.")  # fmt: skip
        return incident  # a setting, not a passing fault: nothing to retry
    with rest:
        pd_id = _pd_incident_id(rest, incident)
        if pd_id is None:
            raise RollbotError(f"PagerDuty has no incident with key {key} (yet)")
        rest.rput(f"incidents/{pd_id}", json={"type": "incident_reference", "status": status},
                  headers={"From": sender})  # fmt: skip
    now = ctx.clock()
    by = f"<@{user}>" + (f" ({sender})" if sender else "")

    def apply(current: Incident) -> None:
        current.pd_incident_id = pd_id
        if status == "acknowledged" and current.status != "resolved":
            current.status, current.acknowledged_by = "acknowledged", by
        elif status == "resolved":
            current.status, current.resolved_by, current.resolved_at = "resolved", by, now

    updated = ctx.incidents.update(key, apply) or incident
    ctx.audit(actor=user, action=f"pagerduty.{status}", result="done", key=key, from_email=sender)
    if status == "resolved":
        cancel_reminder(ctx, key)
    sync_card(ctx, key)
    thread_note(ctx, updated, f"{now:%H:%M} UTC · {status} by {by} from Slack")
    return updated


def thread_note(ctx: Context, incident: Incident, text: str) -> None:
    """A line in the incident card's thread (best effort)."""
    if not (incident.channel and incident.ts):
        return
    try:
        get_slack_client().chat_postMessage(channel=incident.channel, thread_ts=incident.ts, text=text)
    except _SLACK_ERRORS as error:
        logger.warning("incident %s: thread note not posted: %s", incident.key, error)


def _incident_part(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("type") == "incident":
        return data
    part = data.get("incident")
    return part if isinstance(part, dict) else {}


def handle_webhook(ctx: Context, payload: dict[str, Any]) -> str:
    """Apply one verified v3 webhook event: update the incident's card and add a thread line, or say
    briefly in the channel what happened to an incident rollbot did not open.
    """
    event = payload["event"]
    kind = str(event.get("event_type"))
    data = event.get("data") or {}
    part = _incident_part(data)
    pd_id, title = part.get("id"), str(part.get("title") or part.get("summary") or "")
    who = str((event.get("agent") or {}).get("summary") or "PagerDuty")
    when = datetime.fromisoformat(str(event.get("occurred_at") or ctx.clock().isoformat()).replace("Z", "+00:00"))
    verb = kind.removeprefix("incident.")
    key = (ctx.incidents.key_for_pd_id(str(pd_id)) if pd_id else None) or key_in_title(title)
    incident = ctx.incidents.get(key) if key else None
    ctx.audit(actor=f"pagerduty:{who}", action=f"webhook.{kind}", result="known" if incident else "foreign", key=key)
    if incident is None or key is None:
        _post_foreign(ctx, f"PagerDuty: {title or pd_id} — {verb} by {who} at {when:%H:%M} UTC")
        return "foreign"

    def apply(current: Incident) -> None:
        current.pd_incident_id = current.pd_incident_id or (str(pd_id) if pd_id else None)
        current.pd_url = current.pd_url or part.get("html_url")
        if kind in ("incident.triggered", "incident.unacknowledged", "incident.reopened"):
            current.status, current.acknowledged_by = "triggered", None
            current.paged_at = current.paged_at or when
        elif kind == "incident.acknowledged":
            current.status, current.acknowledged_by = "acknowledged", who
        elif kind == "incident.resolved":
            current.status, current.resolved_by, current.resolved_at = "resolved", who, when
        if kind in ("incident.escalated", "incident.reassigned", "incident.triggered") and part.get("assignees"):
            current.assignees = [str(a.get("summary")) for a in part["assignees"] if a.get("summary")]

    updated = ctx.incidents.update(key, apply) or incident
    if kind == "incident.resolved":
        cancel_reminder(ctx, key)
    if not sync_card(ctx, key):
        raise RollbotError(f"incident {key}: Slack did not take the update; retried")
    line = f"{when:%H:%M} UTC · {verb} by {who}"
    if kind == "incident.annotated" and data.get("content"):
        line += f": “{str(data['content'])[:500]}”"
    thread_note(ctx, updated, line)
    return "applied"


def _post_foreign(ctx: Context, text: str) -> None:
    channel = shared_alert_channel(ctx)
    if not channel:
        logger.warning("PagerDuty event not shown in Slack: %s (no alert channel known)", text)
        return
    try:
        get_slack_client().chat_postMessage(channel=channel, text=text, unfurl_links=False)
    except _SLACK_ERRORS as error:
        logger.warning("PagerDuty event not shown in Slack: %s (%s)", text, error)
