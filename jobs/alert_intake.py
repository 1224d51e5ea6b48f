"""Alert messages posted in the alert channel: matched, deduplicated by fingerprint, handed to a
worker. Only Redis is touched here (the web process calls it on every message).
"""

from __future__ import annotations

import logging
from typing import Any

from rq import Retry

from jobs.alert_response import request_card_update
from jobs.alert_rules import match_message
from jobs.alerts import Alert, new_alert_id
from jobs.context import Context
from jobs.factory import get_queue
from jobs.redis_values import optional_text
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

ACT_RETRY = Retry(max=3, interval=[2, 10, 30])  # acting is idempotent: one rollback, one incident per alert


def poster(event: dict[str, Any]) -> str:
    """Who posted a message: a Slack user ID, or the integration's name."""
    if event.get("user"):
        return str(event["user"])
    profile = event.get("bot_profile") or {}
    return str(event.get("username") or profile.get("name") or event.get("bot_id") or "integration")


def is_alert_channel(ctx: Context, runbook: Runbook, channel: str) -> bool:
    """Whether `channel` (an ID) is the alert channel: as configured when it is an ID, else the ID
    Slack gave back when rollbot last posted there.
    """
    configured = ctx.settings.alert_channel or runbook.alert_channel
    if not configured.startswith("#"):
        return channel == configured
    learned = optional_text(ctx.redis.get(ctx.keys.alert_channel_id))
    return learned is None or channel == learned  # not learned yet: the bot only hears channels it is in


def receive(ctx: Context, runbook: Runbook, event: dict[str, Any]) -> str | None:
    """Match a message to the alert rules. A new alert is stored and a worker acts on it; the same
    alert again within its rule's cooldown only bumps the card's counter. Returns the alert id, or
    None when no rule matched.
    """
    match = match_message(runbook, event)
    if match is None:
        return None
    now = ctx.clock()
    rule = match.rule
    first_line = match.text.splitlines()[0] if match.text else ""
    alert = Alert(
        alert_id=new_alert_id(now), origin="message", source=rule.name, service=runbook.service,
        fingerprint=match.fingerprint, metric=rule.metric, value=match.value, severity=rule.severity,
        detail=first_line[:300], trend=[match.value], first_seen=now, last_seen=now, phase=rule.phase,
        level=rule.level, mode=rule.mode, posted_by=poster(event), message_text=match.text[:1000],
    )  # fmt: skip
    existing = ctx.alerts.claim(match.fingerprint, alert.alert_id, rule.cooldown)
    if existing is not None:
        ctx.alerts.bump(existing)
        request_card_update(ctx, existing)
        return existing
    ctx.alerts.create(alert)
    ctx.audit(actor=alert.posted_by or "integration", action="alert.received", result="new",
              alert_id=alert.alert_id, rule=rule.name, value=match.value)  # fmt: skip
    get_queue("notify").enqueue("jobs.tasks.act_on_alert", alert.alert_id, job_id=ctx.keys.job("alert", alert.alert_id),
                                retry=ACT_RETRY, description=f"alert {alert.alert_id} ({rule.name})")  # fmt: skip
    return alert.alert_id
