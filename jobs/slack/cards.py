"""Cards rollbot keeps in the alert channel (incidents, alerts, approvals): posted once, then
updated in place, one process at a time per card.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from redis.exceptions import LockError
from redis.lock import Lock
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block
from slack_sdk.models.metadata import Metadata

from jobs.context import Context
from jobs.core.redis_values import optional_text
from jobs.slack import deliveries

logger = logging.getLogger(__name__)

SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)
Message = tuple[str, list[Block], Metadata]  # text, blocks, metadata


class Placed(Protocol):
    """A stored record that knows where its card is."""

    channel: str | None
    ts: str | None


def locked(ctx: Context, lock_name: str, sync: Callable[[], bool]) -> bool:
    """Run `sync` holding the card's lock (False when another process kept it for 30 s)."""
    lock = Lock(ctx.redis, lock_name, timeout=60, blocking_timeout=30, thread_local=False)
    if not lock.acquire():
        return False
    try:
        return sync()
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def send(ctx: Context, card: Placed, channel: str, message: Message, what: str) -> tuple[str, str] | bool:
    """Update the card where it is, or post it in `channel`. Returns where a new post landed
    (channel, ts), True for an update, False when Slack did not take it (logged; remembered, so
    the delivery that finally gets through says in the card's thread that it is late).
    """
    client = ctx.slack
    text, blocks, metadata = message
    try:
        if card.channel and card.ts:
            client.chat_update(channel=card.channel, ts=card.ts, text=text, blocks=blocks, metadata=metadata)
            _say_if_late(ctx, client, what, card.channel, card.ts)
            return True
        answer = client.chat_postMessage(channel=channel, text=text, blocks=blocks, metadata=metadata)
    except SLACK_ERRORS as error:
        logger.warning("%s: card not delivered to Slack: %s", what, error)
        ctx.redis.set(late_key(ctx, what), ctx.clock().isoformat(), nx=True,
                      ex=int(ctx.settings.rollbot_slack_retention))  # fmt: skip
        deliveries.note_failure(ctx)
        return False
    posted = str(answer["channel"]), str(answer["ts"])
    _say_if_late(ctx, client, what, *posted)
    return posted


def late_key(ctx: Context, what: str) -> str:
    """Set while the card `what` (`alert <id>`, `incident <key>`…) is behind: since when."""
    return f"{ctx.keys.namespace}:card-late:{what.replace(' ', ':')}"


def _say_if_late(ctx: Context, client: WebClient, what: str, channel: str, ts: str) -> None:
    """The card reached Slack: if earlier attempts did not, say so in its thread (once)."""
    key = late_key(ctx, what)
    since = optional_text(ctx.redis.get(key))
    if since is None:
        return
    note = deliveries.late_note(datetime.fromisoformat(since), ctx.clock(), "this card's updates")
    try:
        client.chat_postMessage(channel=channel, thread_ts=ts, text=note)
    except SLACK_ERRORS as error:
        logger.warning("%s: late note not posted yet: %s", what, error)
        return
    ctx.redis.delete(key)


def place(channel: str, ts: str) -> Callable[[Placed], bool]:
    """A store change recording where the card was posted, unless it was recorded already."""

    def change(record: Placed) -> bool:
        if record.ts:
            return False
        record.channel, record.ts = channel, ts
        return True

    return change
