"""Alert messages posted in the alert channel: matched, deduplicated by fingerprint, handed to a
worker. Only Redis is touched here (the web process calls it on every message).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from rq import Retry

from jobs.alerts.response import CARD_DUE_EXPIRY_MS, schedule_card_update
from jobs.alerts.rules import match_message
from jobs.context import Context
from jobs.core.redis_values import text
from jobs.core.task_names import Task
from jobs.records.alerts import Alert, new_alert_id
from jobs.runbook.catalog import Catalog
from jobs.runbook.model import Runbook
from jobs.slack.channel import known_alert_channel_id

logger = logging.getLogger(__name__)

ACT_RETRY = Retry(max=3, interval=[2, 10, 30])  # acting is idempotent: one rollback, one incident per alert
LEARN_RETRY = Retry(max=20, interval=[2, 5, 10, 30, 60, 120, 300])
LEARN_GUARD_SECONDS = 30
MAX_HELD = 10_000
RECURRENCE_GRACE_SECONDS = 60.0  # repeats arriving this soon after recovery still count on the old card
HELD_TTL_SECONDS = 86400


def poster(event: dict[str, Any]) -> str:
    """Who posted a message: a Slack user ID, or the integration's name."""
    if event.get("user"):
        return str(event["user"])
    profile = event.get("bot_profile") or {}
    return str(event.get("username") or profile.get("name") or event.get("bot_id") or "integration")


def accept(ctx: Context, books: Catalog, event: dict[str, Any]) -> list[str]:
    """A message event from Slack: matched against every runbook's rules when it is in the alert
    channel; held (and the channel's ID looked up by a worker) while that ID is not known yet.
    Returns the ids of the alerts it raised or repeated.
    """
    channel_id = known_alert_channel_id(ctx, books.first)  # the runbooks share one alert channel
    if channel_id is None:
        held = hold(ctx, event)
        channel_id = known_alert_channel_id(ctx, books.first)
        # Learned meanwhile, and the replay may have run before this was held: take it back and
        # match it here (when the replay already took it, LREM finds nothing: it is matched once).
        if channel_id is None or not ctx.redis.lrem(ctx.keys.held_messages, 1, held):
            return []
    if event.get("channel") != channel_id:
        return []
    return receive_all(ctx, books, event)


def hold(ctx: Context, event: dict[str, Any]) -> str:
    """Keep a message until the alert channel's ID is known (a worker learns it and replays them);
    returns it as held.
    """
    held = json.dumps(event, sort_keys=True)
    with ctx.redis.pipeline() as pipe:
        pipe.rpush(ctx.keys.held_messages, held)
        pipe.ltrim(ctx.keys.held_messages, -MAX_HELD, -1)
        pipe.expire(ctx.keys.held_messages, HELD_TTL_SECONDS)
        pipe.execute()
    if ctx.redis.set(f"{ctx.keys.held_messages}:learning", "1", nx=True, ex=LEARN_GUARD_SECONDS):
        logger.warning("alert channel ID not known yet: messages are held until a worker looks it up")
        ctx.queue("notify").enqueue(Task.LEARN_ALERT_CHANNEL, job_id=ctx.keys.job("learn", "alert-channel"),
                                    retry=LEARN_RETRY, description="look up the alert channel's ID")  # fmt: skip
    return held


def _claim(ctx: Context, alert: Alert, cooldown: float) -> str | None:
    """Claim the alert's fingerprint; the id of the alert it repeats when that one is open or
    resolved only moments ago (a storm outlasting its rollback), None when this alert is new.
    """
    while (existing := ctx.alerts.claim(alert.fingerprint, alert.alert_id, cooldown)) is not None:
        current = ctx.alerts.get(existing)
        if current is not None and not _recurred(current.resolved_at, alert.first_seen):
            return existing
        if ctx.alerts.replace_claim(alert.fingerprint, existing, alert.alert_id, cooldown):
            return None  # it came back after recovering: a new alert
    return None


def _recurred(resolved_at: datetime | None, now: datetime) -> bool:
    """An alert resolved at `resolved_at` seen again after the grace period is a recurrence, not a repeat."""
    return resolved_at is not None and (now - resolved_at).total_seconds() > RECURRENCE_GRACE_SECONDS


def _repeat(ctx: Context, alert_id: str) -> None:
    """One more sighting of an open alert: its counter, and its card's update (one per second)."""
    if ctx.alerts.count_repeat(alert_id, CARD_DUE_EXPIRY_MS):
        schedule_card_update(ctx, alert_id)


def replay_held(ctx: Context, books: Catalog, channel_id: str) -> int:
    """Match the held messages that were posted in the alert channel; returns how many matched."""
    matched = 0
    while (raw := ctx.redis.lpop(ctx.keys.held_messages)) is not None:
        event = json.loads(text(raw))
        if event.get("channel") == channel_id and receive_all(ctx, books, event):
            matched += 1
    return matched


def receive_all(ctx: Context, books: Catalog, event: dict[str, Any]) -> list[str]:
    """Match a message to every runbook's alert rules (each service's alert is its own)."""
    builtin = not books.several  # the manual's monitor line names no service
    return [alert_id for book in books if (alert_id := receive(ctx, book, event, builtin)) is not None]


def receive(ctx: Context, runbook: Runbook, event: dict[str, Any], builtin: bool = True) -> str | None:
    """Match a message to the alert rules. A new alert is stored and a worker acts on it; the same
    alert again within its rule's cooldown only bumps the card's counter. Returns the alert id, or
    None when no rule matched.
    """
    match = match_message(runbook, event, builtin)
    if match is None:
        return None
    now = ctx.clock()
    repeat = ctx.alerts.repeat_open(match.fingerprint, CARD_DUE_EXPIRY_MS)  # a storm's repeats stop here
    if repeat is not None:
        alert_id, resolved_at, card_due = repeat
        if resolved_at is None:  # open: counted
            if card_due:
                schedule_card_update(ctx, alert_id)
            return alert_id
        if not _recurred(resolved_at, now):  # resolved moments ago: still counts on its card
            _repeat(ctx, alert_id)
            return alert_id
    rule = match.rule
    first_line = match.text.splitlines()[0] if match.text else ""
    alert = Alert(
        alert_id=new_alert_id(now), origin="message", source=rule.name, service=runbook.service,
        fingerprint=match.fingerprint, metric=rule.metric, value=match.value, severity=rule.severity,
        detail=first_line[:300], trend=[match.value], first_seen=now, last_seen=now, phase=rule.phase,
        level=rule.level, mode=rule.mode, posted_by=poster(event), message_text=match.text[:1000],
    )  # fmt: skip
    ctx.alerts.create(alert)  # stored before it is claimed: a claim never points at nothing
    existing = _claim(ctx, alert, rule.cooldown)
    if existing is not None:  # it became a repeat meanwhile (another message of the storm won)
        ctx.alerts.discard(alert.alert_id)
        _repeat(ctx, existing)
        return existing
    ctx.audit(actor=alert.posted_by or "integration", action="alert.received", result="new",
              alert_id=alert.alert_id, rule=rule.name, value=match.value)  # fmt: skip
    ctx.queue("notify").enqueue(Task.ACT_ON_ALERT, alert.alert_id, job_id=ctx.keys.job("alert", alert.alert_id),
                                retry=ACT_RETRY, description=f"alert {alert.alert_id} ({rule.name})")  # fmt: skip
    return alert.alert_id
