"""The App Home tab: opening it (`app_home_opened`) or clicking *Refresh* has a worker publish the
dashboard for that person (`views.publish`); the listener only acks and enqueues."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack

from bot import deps
from jobs.core.task_names import Task

logger = logging.getLogger(__name__)

PUBLISH_TTL = 300  # a dashboard queued longer than this is stale before it is shown


def enqueue_publish(user: str) -> None:
    """Have a `notify` worker publish `user`'s Home (never raises: Slack is answered regardless)."""
    try:
        ctx = deps.context()
        ctx.queue("notify").enqueue(Task.PUBLISH_HOME, user, ttl=PUBLISH_TTL,
                                    job_id=ctx.keys.job("home", f"{user}-{secrets.token_hex(4)}"),
                                    description=f"publish the App Home of {user}")  # fmt: skip
    except RedisError:
        logger.exception("App Home of %s not published: Redis unreachable", user)


def on_home_opened(event: dict[str, Any]) -> None:
    """`app_home_opened` on the Home tab (not the Messages tab)."""
    if event.get("tab", "home") == "home" and event.get("user"):
        enqueue_publish(str(event["user"]))


def on_refresh(ack: Ack, body: dict[str, Any]) -> None:
    """*Refresh* on the Home tab."""
    ack()
    enqueue_publish(body["user"]["id"])
