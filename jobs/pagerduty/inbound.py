"""Acknowledgments in: from the Slack card (through the REST API, as the clicking person) and from
PagerDuty's v3 webhooks. Either way the incident card shows who owns the incident now.

PagerDuty's state wins: an acknowledgment never reopens an incident PagerDuty already resolved,
and webhook events apply in `occurred_at` order (an older one never overwrites a newer status).
Incidents are matched by PagerDuty id or dedup key, never by text in their title.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.context import Context
from jobs.core.exceptions import RollbotError
from jobs.pagerduty.events import cancel_reminder, sync_card
from jobs.records.incidents import Incident
from jobs.slack.channel import shared_alert_channel

if TYPE_CHECKING:  # the client is loaded where it is used, not by `rollbot web`, which only enqueues webhooks
    import pagerduty

logger = logging.getLogger(__name__)

HANDLED_EVENTS = {
    "incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.escalated",
    "incident.reassigned", "incident.resolved", "incident.reopened", "incident.annotated",
}  # fmt: skip
_NO_STATUS = {"incident.annotated"}  # events that never change the incident's status
_SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)


def _slack_email(ctx: Context, user: str) -> str | None:
    try:
        answer = ctx.slack.users_info(user=user)
    except _SLACK_ERRORS as error:
        logger.info("no e-mail for Slack user %s: %s", user, error)
        return None
    email = (answer.get("user") or {}).get("profile", {}).get("email")
    return str(email) if email else None


def from_address(ctx: Context, user: str) -> str | None:
    """The `From` of a REST call made for Slack user `user`: their Slack e-mail when it belongs to a
    PagerDuty user, else `PAGERDUTY_FROM_EMAIL`.
    """
    email = _slack_email(ctx, user)
    rest = ctx.pagerduty_rest(email or ctx.settings.pagerduty_from_email)
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
    """Acknowledge or resolve the incident in PagerDuty as the Slack user (REST API with `From`). An
    acknowledgment first reads PagerDuty's status: one it already resolved is left alone (and said).
    """
    incident = ctx.incidents.get(key)
    if incident is None:
        raise RollbotError(f"No incident `{key}`.")
    sender = from_address(ctx, user)
    rest = ctx.pagerduty_rest(sender)
    if rest is None or sender is None:
        missing = "PAGERDUTY_API_TOKEN" if rest is None else "PAGERDUTY_FROM_EMAIL"
        thread_note(ctx, incident, f"<@{user}> asked to mark it {status}, but {missing} is not set: "
                                    "do it in PagerDuty.")  # fmt: skip
        return incident  # a setting, not a passing fault: nothing to retry
    with rest:
        pd_id = _pd_incident_id(rest, incident)
        if pd_id is None:
            raise RollbotError(f"PagerDuty has no incident with key {key} (yet)")
        if status == "acknowledged" and _pagerduty_status(rest, pd_id) == "resolved":
            return _already_resolved(ctx, incident, user, pd_id)
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


def _pagerduty_status(rest: pagerduty.RestApiV2Client, pd_id: str) -> str | None:
    """The incident's status in PagerDuty now (REST GET)."""
    found = rest.rget(f"incidents/{pd_id}")
    return str(found.get("status")) if isinstance(found, dict) and found.get("status") else None


def _already_resolved(ctx: Context, incident: Incident, user: str, pd_id: str) -> Incident:
    """A late acknowledgment (a click on an old card, or a retried job) of an incident PagerDuty
    already resolved: nothing is changed in PagerDuty, the card follows PagerDuty, the thread says so.
    """
    now = ctx.clock()

    def follow(current: Incident) -> bool:
        if current.status == "resolved" and current.pd_incident_id == pd_id:
            return False
        current.pd_incident_id = pd_id
        if current.status != "resolved":
            current.status, current.resolved_at = "resolved", current.resolved_at or now
        return True

    updated = ctx.incidents.update(incident.key, follow) or incident
    ctx.audit(actor=user, action="pagerduty.acknowledged", result="already resolved", key=incident.key)
    cancel_reminder(ctx, incident.key)
    sync_card(ctx, incident.key)
    thread_note(ctx, updated, f"{now:%H:%M} UTC · <@{user}> asked to acknowledge it, but PagerDuty had already "
                              "resolved it: nothing changed.")  # fmt: skip
    return updated


def thread_note(ctx: Context, incident: Incident, text: str) -> None:
    """A line in the incident card's thread (best effort)."""
    if not (incident.channel and incident.ts):
        return
    try:
        ctx.slack.chat_postMessage(channel=incident.channel, thread_ts=incident.ts, text=text)
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
    key = _known_key(ctx, part, str(pd_id) if pd_id else None)
    incident = ctx.incidents.get(key) if key else None
    ctx.audit(actor=f"pagerduty:{who}", action=f"webhook.{kind}", result="known" if incident else "foreign", key=key)
    if incident is None or key is None:
        _post_foreign(ctx, f"PagerDuty: {title or pd_id} — {verb} by {who} at {when:%H:%M} UTC")
        return "foreign"

    applied = True

    def apply(current: Incident) -> bool:
        nonlocal applied
        if kind not in _NO_STATUS and _older(current, when, str(pd_id) if pd_id else None):
            applied = False  # an older event, delivered late: the newer status stands
            return False
        current.pd_incident_id = current.pd_incident_id or (str(pd_id) if pd_id else None)
        current.pd_url = current.pd_url or part.get("html_url")
        if kind not in _NO_STATUS:
            current.last_event_at = when
        if kind in ("incident.triggered", "incident.unacknowledged", "incident.reopened"):
            current.status, current.acknowledged_by = "triggered", None
            current.paged_at = current.paged_at or when
        elif kind == "incident.acknowledged":
            current.status, current.acknowledged_by = "acknowledged", who
        elif kind == "incident.resolved":
            current.status, current.resolved_by, current.resolved_at = "resolved", who, when
        if kind in ("incident.escalated", "incident.reassigned", "incident.triggered") and part.get("assignees"):
            current.assignees = [str(a.get("summary")) for a in part["assignees"] if a.get("summary")]
        return True

    updated = ctx.incidents.update(key, apply) or incident
    if not applied:
        logger.info("incident %s: %s of %s is older than the last applied event; not applied", key, kind, when)
        thread_note(ctx, updated, f"{when:%H:%M} UTC · {verb} by {who} (an older event that arrived late: "
                                  "the newer state stands)")  # fmt: skip
        return "stale"
    if kind == "incident.resolved":
        cancel_reminder(ctx, key)
    if not sync_card(ctx, key):
        raise RollbotError(f"incident {key}: Slack did not take the update; retried")
    line = f"{when:%H:%M} UTC · {verb} by {who}"
    if kind == "incident.annotated" and data.get("content"):
        line += f": “{str(data['content'])[:500]}”"
    thread_note(ctx, updated, line)
    return "applied"


def _older(incident: Incident, when: datetime, pd_id: str | None) -> bool:
    """Whether an event is older than the incident's status: older than the last applied event, or
    of an earlier PagerDuty incident under the same dedup key (resolved, then paged again).
    """
    if incident.last_event_at is not None and when < incident.last_event_at:
        return True
    if pd_id and pd_id in incident.earlier_pd_ids:
        return True
    return bool(pd_id and incident.pd_incident_id and pd_id != incident.pd_incident_id)


def _known_key(ctx: Context, part: dict[str, Any], pd_id: str | None) -> str | None:
    """Rollbot's key of the event's incident: by PagerDuty id as seen before, else by the dedup key
    (`incident_key` of the event, or as PagerDuty's REST API tells it for that id). None: not ours.
    """
    if pd_id and (key := ctx.incidents.key_for_pd_id(pd_id)):
        return key
    dedup = part.get("incident_key")
    if not dedup and pd_id:
        dedup = _dedup_key_of(ctx, pd_id)
    return str(dedup) if dedup and ctx.incidents.get(str(dedup)) is not None else None


def _dedup_key_of(ctx: Context, pd_id: str) -> str | None:
    """The dedup key of PagerDuty incident `pd_id` (REST GET); None without `PAGERDUTY_API_TOKEN`."""
    rest = ctx.pagerduty_rest(ctx.settings.pagerduty_from_email)
    if rest is None:
        return None
    import pagerduty  # noqa: PLC0415 - only where PagerDuty is called (jobs.factory builds the client)

    with rest:
        try:
            found = rest.rget(f"incidents/{pd_id}")
        except pagerduty.HttpError as error:
            if error.response is not None and error.response.status_code == 404:
                return None
            raise
    key = found.get("incident_key") if isinstance(found, dict) else None
    return str(key) if key else None


def _post_foreign(ctx: Context, text: str) -> None:
    channel = shared_alert_channel(ctx)
    if not channel:
        logger.warning("PagerDuty event not shown in Slack: %s (no alert channel known)", text)
        return
    try:
        ctx.slack.chat_postMessage(channel=channel, text=text, unfurl_links=False)
    except _SLACK_ERRORS as error:
        logger.warning("PagerDuty event not shown in Slack: %s (%s)", text, error)
