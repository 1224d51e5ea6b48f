"""Which channel ID is the alert channel. `ALERT_CHANNEL` (or the runbook's `alert_channel`) may
be a `#name`, while message events carry only IDs: the ID is learned from Slack (any message
rollbot posts there answers it; `conversations.list` finds it otherwise) and kept in Redis.
Until it is known, messages are held, never matched against a guess.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from jobs.context import Context
from jobs.core.exceptions import RunbookError
from jobs.core.redis_values import optional_text
from jobs.runbook.catalog import catalog
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

PAGE_LIMIT = 999  # channels per conversations.list page: Slack wants a limit under 1,000
MAX_PAGES = 50


def alert_channel(ctx: Context, runbook: Runbook) -> str:
    """`ALERT_CHANNEL` when set, else the runbook's `alert_channel` (an ID or a `#name`)."""
    return ctx.settings.alert_channel or runbook.alert_channel


def shared_alert_channel(ctx: Context) -> str:
    """The alert channel, for things whose service has no runbook any more (all runbooks share one);
    '' when neither `ALERT_CHANNEL` nor a readable runbook names it.
    """
    try:
        return alert_channel(ctx, catalog(ctx).first)
    except RunbookError:
        return ctx.settings.alert_channel or ""


def known_alert_channel_id(ctx: Context, runbook: Runbook) -> str | None:
    """The alert channel's ID: as configured when it is one, else as learned (None until then)."""
    configured = alert_channel(ctx, runbook)
    if not configured.startswith("#"):
        return configured
    return optional_text(ctx.redis.get(ctx.keys.alert_channel_id))


def remember(ctx: Context, runbook: Runbook, channel_id: str) -> None:
    """Slack answered a post to the alert channel with its ID: keep it."""
    if alert_channel(ctx, runbook).startswith("#"):
        ctx.redis.set(ctx.keys.alert_channel_id, channel_id)


def learn(ctx: Context, runbook: Runbook, client: WebClient) -> str | None:
    """Find the alert channel's ID by name with `conversations.list` (raises while Slack is down)."""
    known = known_alert_channel_id(ctx, runbook)
    if known is not None:
        return known
    name = alert_channel(ctx, runbook).removeprefix("#")
    cursor = None
    for _ in range(MAX_PAGES):
        answer = client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                           limit=PAGE_LIMIT, cursor=cursor)  # fmt: skip
        for channel in answer.get("channels") or []:
            if channel.get("name") == name:
                remember(ctx, runbook, str(channel["id"]))
                return str(channel["id"])
        cursor = (answer.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    logger.error("alert channel #%s not found: set ALERT_CHANNEL to its ID and invite the bot", name)
    return None
