"""`rollbot socket`: the same Bolt app over Socket Mode (no public URL; `SLACK_APP_TOKEN`, `xapp-…`).

slack_sdk's client reconnects when Slack asks (`disconnect`, reason `refresh_requested`) and acks each
envelope with its `envelope_id` (and the listener's answer as `payload`). What it cannot use is said
here: a malformed message, or an envelope of a type rollbot does not know (acknowledged, so Slack
does not send it again), is logged and the connection goes on.
"""

from __future__ import annotations

import json
import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.client import BaseSocketModeClient

from bot.app import create_app
from jobs.core.settings import Settings

logger = logging.getLogger(__name__)

KNOWN_TYPES = frozenset({"hello", "disconnect", "slash_commands", "interactive", "events_api"})
SHOWN = 200  # characters of a bad message shown in the log


class OddMessages:
    """An `on_message_listener`: sees each message's raw text before the SDK parses it."""

    def __init__(self, client: BaseSocketModeClient) -> None:
        self.client = client

    def __call__(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("Socket Mode: malformed message ignored: %r", raw[:SHOWN])
            return
        if not isinstance(message, dict):
            logger.warning("Socket Mode: message that is not an object ignored: %r", raw[:SHOWN])
            return
        kind, envelope_id = message.get("type"), message.get("envelope_id")
        if kind in KNOWN_TYPES:
            return
        logger.warning("Socket Mode: unknown envelope type %r (envelope %s) acknowledged and ignored", kind,
                       envelope_id)  # fmt: skip
        if envelope_id:
            self.client.send_socket_mode_response({"envelope_id": envelope_id})


def serve(settings: Settings) -> None:
    """Connect to Slack over Socket Mode and handle envelopes until stopped."""
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    handler = SocketModeHandler(create_app(settings), app_token)
    handler.client.on_message_listeners.append(OddMessages(handler.client))
    handler.start()  # type: ignore[no-untyped-call]
