"""PagerDuty events, delivered reliably: stored first, sent at once from a background thread,
and retried by an RQ job with backoff until PagerDuty takes them (429 and 5xx answers, network
errors). An event PagerDuty refuses (another 4xx: invalid event) is never resent: the channel is
told instead.

While an escalation cannot be delivered (PagerDuty down, or no routing key), the alert channel
is told to escalate by phone, with the runbook's technical contacts; once it is delivered late,
the incident card's thread says so.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from rq import Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.registry import ScheduledJobRegistry
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.context import Context
from jobs.core.redis_values import optional_text
from jobs.core.task_names import Task
from jobs.records.incidents import Incident, fit_summary
from jobs.runbook.catalog import find_runbook
from jobs.runbook.model import Runbook
from jobs.slack import blocks, cards
from jobs.slack.channel import shared_alert_channel
from jobs.slack.notifier import alert_channel

if TYPE_CHECKING:  # the client is loaded where an event is sent, not by every process importing this module
    import pagerduty

logger = logging.getLogger(__name__)

BACKSTOP_DELAY = timedelta(seconds=5)  # the RQ job steps in if the immediate attempt did not deliver
DELIVERY_RETRY = Retry(max=30, interval=[5, 15, 30, 60, 120, 300, 600, 900])
_SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)


class PagerDutyEvent(BaseModel):
    """One Events API v2 event: a trigger or resolve of an incident, or a change event."""

    id: str
    action: Literal["trigger", "resolve", "change"]
    incident_key: str | None = None
    summary: str = ""
    source: str = ""
    severity: str = "critical"
    custom_details: dict[str, Any] = {}
    created_at: datetime
    attempts: int = 0
    first_failure_at: datetime | None = None
    delivered_at: datetime | None = None
    refused: str | None = None  # why PagerDuty refused it for good (a 4xx other than 429): never resent


def record_event(ctx: Context, event: PagerDutyEvent) -> PagerDutyEvent:
    """Store an event for delivery."""
    ctx.redis.set(ctx.keys.pd_event(event.id), event.model_dump_json(), ex=30 * 86400)
    return event


def new_event(ctx: Context, action: Literal["trigger", "resolve", "change"], **fields: Any) -> PagerDutyEvent:
    """A new stored event with a fresh id."""
    event_id = f"{action}-{ctx.clock():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    return record_event(ctx, PagerDutyEvent(id=event_id, action=action, created_at=ctx.clock(), **fields))


def dispatch(ctx: Context, event: PagerDutyEvent) -> threading.Thread:
    """Send `event` now from a background thread (the caller never waits for PagerDuty), and queue
    the retried backstop job that delivers it later if this attempt fails.
    """
    try:
        ctx.queue("notify").enqueue_in(
            BACKSTOP_DELAY, Task.DELIVER_PAGERDUTY_EVENT, event.id, job_id=ctx.keys.job("pd", event.id),
            retry=DELIVERY_RETRY, description=f"PagerDuty {event.action} {event.incident_key or ''}",
        )  # fmt: skip
    except RedisError as error:
        logger.error("PagerDuty event %s: backstop not queued: %s", event.id, error)
    thread = threading.Thread(target=deliver, args=(ctx, event.id), name=f"pd-{event.id}", daemon=True)
    thread.start()
    return thread


def deliver(ctx: Context, event_id: str) -> bool:
    """Send the stored event unless it was delivered (or refused) already. True once PagerDuty has
    it, or refused it for good (then the channel was told): nothing more to do.
    """
    lock = Lock(ctx.redis, f"{ctx.keys.pd_event(event_id)}:lock", timeout=60, blocking_timeout=0.5,
                thread_local=False)  # fmt: skip
    if not lock.acquire():
        return False  # another process is delivering it right now
    try:
        raw = ctx.redis.get(ctx.keys.pd_event(event_id))
        if raw is None:
            logger.error("PagerDuty event %s is gone; nothing to deliver", event_id)
            return True
        event = PagerDutyEvent.model_validate_json(raw)
        if event.delivered_at is not None or event.refused is not None:
            return True
        return _send(ctx, event)
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def _send(ctx: Context, event: PagerDutyEvent) -> bool:
    import pagerduty  # noqa: PLC0415 - only where PagerDuty is called (jobs.factory builds the client)

    client = ctx.pagerduty_events()
    runbook = find_runbook(ctx, event.source)  # a broken runbook never stops a page: only its contacts are lost
    if client is None:
        reason = "PAGERDUTY_ROUTING_KEY is not set, so paging is disabled"
        _undelivered(ctx, event, runbook, reason)
        return False
    # The timestamp is passed: it happened when the event was made, not when it is delivered (and
    # the client's own default timestamp is broken in pagerduty 7.2).
    timestamp = event.created_at.isoformat()
    try:
        with client:
            if event.action == "trigger" and event.incident_key:
                client.trigger(fit_summary(event.summary), event.source, dedup_key=event.incident_key,
                               severity=event.severity, payload={"timestamp": timestamp},
                               custom_details=event.custom_details, links=_links(ctx, event))  # fmt: skip
            elif event.action == "resolve" and event.incident_key:
                client.resolve(event.incident_key)
            else:
                client.submit(fit_summary(event.summary), event.source, custom_details=event.custom_details,
                              timestamp=timestamp)  # fmt: skip
    except pagerduty.Error as error:
        status = refusal_status(error)
        if status is not None:
            _refused(ctx, event, runbook, f"HTTP {status}: {error}")
            return True
        logger.warning("PagerDuty %s %s not delivered: %s", event.action, event.incident_key, error)
        _undelivered(ctx, event, runbook, f"PagerDuty did not accept it ({error})")
        return False
    event.delivered_at = ctx.clock()
    record_event(ctx, event)
    ctx.audit(actor="rollbot", action=f"pagerduty.{event.action}", result="delivered", key=event.incident_key,
              attempts=event.attempts + 1)  # fmt: skip
    if event.incident_key and event.action in ("trigger", "resolve"):
        _after_delivery(ctx, event)
    return True


def _links(ctx: Context, event: PagerDutyEvent) -> list[dict[str, str]]:
    """The Slack permalink of the run's message, as the notifier stored it (a page never waits on Slack)."""
    run_id = event.custom_details.get("run_id")
    permalink = optional_text(ctx.redis.hget(ctx.keys.run_slack(run_id), "permalink")) if run_id else None
    return [{"href": permalink, "text": f"Run {run_id} in Slack"}] if permalink else []


def _undelivered(ctx: Context, event: PagerDutyEvent, runbook: Runbook | None, reason: str) -> None:
    """Count the failure; for a page, tell the channel (once) to escalate by phone."""
    event.attempts += 1
    event.first_failure_at = event.first_failure_at or ctx.clock()
    record_event(ctx, event)
    if event.action != "trigger" or not event.incident_key:
        return

    first_time = False

    def mark(incident: Incident) -> bool:
        nonlocal first_time
        first_time = not incident.phone_escalation_posted
        incident.phone_escalation_posted = True
        return first_time

    updated = ctx.incidents.update(event.incident_key, mark)
    if updated is None or not first_time:
        return
    contacts = [c.label for c in runbook.contacts.technical] if runbook else []
    text = blocks.phone_escalation(updated, reason, contacts)
    _post(ctx, runbook, text)
    sync_card(ctx, event.incident_key)


def refusal_status(error: pagerduty.Error) -> int | None:
    """The HTTP status when PagerDuty refused the event for good (a 4xx other than 429: PagerDuty
    says not to retry those), else None (429, 5xx, network errors: retried).
    """
    response = error.response
    status = int(response.status_code) if response is not None else 0
    return status if 400 <= status < 500 and status != 429 else None


def _refused(ctx: Context, event: PagerDutyEvent, runbook: Runbook | None, reason: str) -> None:
    """PagerDuty will never take this event: remember that (no more attempts) and say so."""
    logger.error("PagerDuty refused %s %s for good (not retried): %s", event.action, event.incident_key, reason)
    event.attempts += 1
    event.refused = reason[:300]
    record_event(ctx, event)
    ctx.audit(actor="rollbot", action=f"pagerduty.{event.action}", result="refused", key=event.incident_key,
              reason=event.refused)  # fmt: skip
    incident = ctx.incidents.get(event.incident_key) if event.incident_key else None
    if event.action == "trigger":
        contacts = "\n".join(f"• {c.label}" for c in (runbook.contacts.technical if runbook else []))
        text = (f"📞 *PagerDuty refused the page — escalate by phone:*\n{contacts or '• (no technical contacts)'}\n"
                f"Incident: {incident.title if incident else event.summary}. PagerDuty answered {event.refused}; "
                "it is not sent again.")  # fmt: skip
    else:
        what = f"the {event.action} of incident `{event.incident_key}`" if event.incident_key else "a change event"
        text = f"⚠️ PagerDuty refused {what} ({event.refused}); it is not sent again: do it in PagerDuty directly."
    _post(ctx, runbook, text, thread_of=incident if incident and incident.ts else None)


def _after_delivery(ctx: Context, event: PagerDutyEvent) -> None:
    key = event.incident_key or ""
    now = ctx.clock()

    def apply(incident: Incident) -> None:
        if event.action == "trigger":
            incident.paged_at = incident.paged_at or now
            if incident.status == "pending":
                incident.status = "triggered"
        else:
            incident.status, incident.resolved_at = "resolved", incident.resolved_at or now

    incident = ctx.incidents.update(key, apply)
    if incident is None:
        return
    if event.action == "resolve":
        cancel_reminder(ctx, key)
    sync_card(ctx, key)
    if event.first_failure_at is not None and event.action == "trigger":
        late = blocks.delivered_late(event.first_failure_at, now, event.attempts)
        _post(ctx, find_runbook(ctx, incident.service), late, thread_of=incident)


def _post(ctx: Context, runbook: Runbook | None, text: str, thread_of: Incident | None = None) -> None:
    channel = thread_of.channel if thread_of and thread_of.channel else (
        alert_channel(ctx, runbook) if runbook else shared_alert_channel(ctx))  # fmt: skip
    if not channel:
        logger.error("no alert channel to say: %s", text)
        return
    try:
        ctx.slack.chat_postMessage(channel=channel, text=text,
                                            thread_ts=thread_of.ts if thread_of else None)  # fmt: skip
    except _SLACK_ERRORS as error:
        logger.error("could not tell Slack: %s (%s)", text, error)


def sync_card(ctx: Context, key: str) -> bool:
    """Post or update the incident's card in the alert channel; False when Slack did not take it.
    One process at a time per card, so it is never posted twice.
    """
    return cards.locked(ctx, f"{ctx.keys.incident(key)}:card", lambda: _sync_card(ctx, key))


def _sync_card(ctx: Context, key: str) -> bool:
    incident = ctx.incidents.get(key)
    if incident is None:
        return True
    runbook = find_runbook(ctx, incident.service)
    channel = alert_channel(ctx, runbook) if runbook else shared_alert_channel(ctx)
    if not channel and not incident.ts:
        return False
    message = blocks.incident_card(incident, runbook.escalation if runbook else None)
    sent = cards.send(ctx, incident, channel or "", message, f"incident {key}")
    if isinstance(sent, tuple):
        ctx.incidents.update(key, cards.place(*sent))
    if not incident.is_open and incident.statuspage_id and incident.statuspage_resolved_at is None:
        with contextlib.suppress(RedisError):  # the status page resolution is offered (jobs.comms)
            ctx.queue("notify").enqueue(Task.OFFER_STATUSPAGE_RESOLUTION, key,
                                        job_id=ctx.keys.job("statuspage-resolution", key))  # fmt: skip
    return sent is not False


def reminder_job_id(ctx: Context, key: str) -> str:
    """The RQ job id of the stakeholder reminder of incident `key`."""
    return ctx.keys.job("remind", key)


def cancel_reminder(ctx: Context, key: str) -> None:
    """Drop the scheduled stakeholder reminder (notified, or resolved): out of the scheduler's
    registry and deleted, so it never fires. (If it fires anyway, it finds nothing to remind.)
    """
    registry = ScheduledJobRegistry(queue=ctx.queue("notify"))  # type: ignore[no-untyped-call]
    with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
        registry.remove(reminder_job_id(ctx, key), delete_job=True)
