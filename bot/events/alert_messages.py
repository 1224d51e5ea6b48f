"""Alert intake: a message in the alert channel, from a person or an integration (bot messages
included, rollbot's own excluded), is matched against the runbook's alert rules. Bolt has
acknowledged the event already; matching and deduplication are a few Redis commands, and a
worker acts on new alerts.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import BoltContext

from bot import deps
from jobs.alerts.intake import accept
from jobs.core.exceptions import RunbookError

logger = logging.getLogger(__name__)

HANDLED_SUBTYPES = (None, "bot_message")  # edits, joins, deletions and thread broadcasts are not alerts


def is_own(event: dict[str, Any], context: BoltContext) -> bool:
    """Whether rollbot posted the message (its cards, progress messages and replies)."""
    if context.bot_id and event.get("bot_id") == context.bot_id:
        return True
    if context.bot_user_id and event.get("user") == context.bot_user_id:
        return True
    metadata = event.get("metadata") or {}
    return str(metadata.get("event_type") or "").startswith("rollbot_")


def on_message(event: dict[str, Any], context: BoltContext) -> None:
    """Match a channel message to the alert rules; new alerts go to a worker, repeats are counted."""
    if event.get("subtype") not in HANDLED_SUBTYPES or event.get("thread_ts") or is_own(event, context):
        return
    try:
        alert_ids = accept(deps.context(), deps.catalog(), event)
    except RunbookError as error:
        logger.error("alert message not matched, the runbook is unreadable: %s", error.user_message)
        return
    except RedisError:
        logger.exception("alert message in %s lost: Redis unreachable", event.get("channel"))
        return
    if alert_ids:
        logger.debug("alert message %s → alerts %s", event.get("ts"), alert_ids)
