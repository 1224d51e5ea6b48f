"""The one error handler: deliberate errors are said as they are; anything else gets an error ID."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from slack_bolt import App, BoltResponse, Respond

from bot.replies import reply
from jobs.core.exceptions import RollbotError

logger = logging.getLogger(__name__)


def message_for(error: Exception) -> str:
    """What the user reads: a rollbot error's own message, or a generic one with a new error ID."""
    if isinstance(error, RollbotError):
        logger.info("refused: %s", error.user_message)
        return error.user_message
    error_id = secrets.token_hex(4)
    logger.error("error %s: %s", error_id, error, exc_info=error)
    return (f"Something went wrong in rollbot (error `{error_id}`); nothing was started. "
            "From the deploy host, `rollbot rollback <phase>` works without Slack.")  # fmt: skip


def handle_error(
    error: Exception, body: dict[str, Any], respond: Respond, response: BoltResponse | None
) -> BoltResponse | None:
    """Answer ephemerally: in the HTTP response when nothing was acknowledged yet, else via response_url."""
    text = message_for(error)
    if response is not None:
        payload = json.dumps({"response_type": "ephemeral", "text": text})
        return BoltResponse(status=200, body=payload, headers={"content-type": "application/json"})
    if body.get("response_url"):
        reply(respond, text)
    return None


def register(app: App) -> None:
    """Install the error handler."""
    app.error(handle_error)
