"""`POST /pagerduty/webhook`: PagerDuty v3 webhooks, signature-checked over the raw body.

Verified, known events are handed to a worker (Slack updates happen there); the answer is quick.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from typing import Any

from redis.exceptions import RedisError
from rq import Retry

from jobs.context import Context
from jobs.core.task_names import Task
from jobs.pagerduty.inbound import HANDLED_EVENTS

logger = logging.getLogger(__name__)

SEEN_TTL_SECONDS = 7 * 86400
WEBHOOK_RETRY = Retry(max=10, interval=[5, 15, 30, 60, 120, 300])  # while Slack cannot take the update


def signature_valid(body: bytes, header: str | None, secrets: list[str]) -> bool:
    """True when any `v1=` signature in `header` is the HMAC-SHA256 (hex) of `body` under any secret.
    Compared in constant time.
    """
    if not header or not secrets:
        return False
    offered = [part.strip()[3:].encode() for part in header.split(",") if part.strip().startswith("v1=")]
    expected = [hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode() for secret in secrets]
    matches = [hmac.compare_digest(candidate, wanted) for candidate in offered for wanted in expected]
    return any(matches)


def handle(ctx: Context, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:  # noqa: PLR0911
    """Status and JSON answer for one delivery."""
    if ctx.settings.pagerduty_webhook_secret is None:
        return 503, {"error": "PAGERDUTY_WEBHOOK_SECRET is not set"}
    secrets = [s.strip() for s in ctx.settings.pagerduty_webhook_secret.get_secret_value().split(",") if s.strip()]
    if not signature_valid(body, signature, secrets):
        logger.warning("PagerDuty webhook with a bad or missing signature refused")
        return 401, {"error": "bad signature"}
    try:
        payload = json.loads(body)
        event = payload["event"]
        kind, event_id = str(event["event_type"]), str(event["id"])
    except (ValueError, KeyError, TypeError):
        return 400, {"error": "not a PagerDuty v3 webhook payload"}
    if kind not in HANDLED_EVENTS:
        return 200, {"status": "ignored", "event_type": kind}
    seen = ctx.keys.pd_webhook_seen(event_id)
    try:
        if not ctx.redis.set(seen, "1", nx=True, ex=SEEN_TTL_SECONDS):
            return 200, {"status": "duplicate"}
        ctx.queue("notify").enqueue(Task.HANDLE_PAGERDUTY_WEBHOOK, payload, retry=WEBHOOK_RETRY,
                                               job_id=ctx.keys.job("webhook", event_id),
                                               description=f"PagerDuty {kind}")  # fmt: skip
    except RedisError:
        logger.exception("PagerDuty webhook %s not queued", event_id)
        with contextlib.suppress(RedisError):
            ctx.redis.delete(seen)  # PagerDuty redelivers it: then it must not look like a duplicate
        return 503, {"error": "state store unavailable; PagerDuty will retry"}
    return 202, {"status": "queued"}
