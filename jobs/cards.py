"""Cards rollbot keeps in the alert channel (incidents, alerts, approvals): posted once, then
updated in place, one process at a time per card.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from redis.exceptions import LockError
from redis.lock import Lock
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block
from slack_sdk.models.metadata import Metadata

from jobs.context import Context

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


def send(client: WebClient, card: Placed, channel: str, message: Message, what: str) -> tuple[str, str] | bool:
    """Update the card where it is, or post it in `channel`. Returns where a new post landed
    (channel, ts), True for an update, False when Slack did not take it (logged).
    """
    text, blocks, metadata = message
    try:
        if card.channel and card.ts:
            client.chat_update(channel=card.channel, ts=card.ts, text=text, blocks=blocks, metadata=metadata)
            return True
        answer = client.chat_postMessage(channel=channel, text=text, blocks=blocks, metadata=metadata)
    except SLACK_ERRORS as error:
        logger.warning("%s: card not delivered to Slack: %s", what, error)
        return False
    return str(answer["channel"]), str(answer["ts"])


def place(channel: str, ts: str) -> Callable[[Placed], bool]:
    """A store change recording where the card was posted, unless it was recorded already."""

    def change(record: Placed) -> bool:
        if record.ts:
            return False
        record.channel, record.ts = channel, ts
        return True

    return change
