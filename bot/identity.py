"""Bolt authorization without a Slack round trip on the request path.

Bolt's default single-workspace authorization calls `auth.test` on the first request; while
Slack's Web API is down that would fail every command. rollbot knows its token, so requests are
authorized at once; the bot's own user ID (used to ignore its own messages) is looked up in the
background and filled in when Slack answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 30.0


class BotIdentity:
    """The bot token, and the bot's user and bot IDs once `auth.test` has answered."""

    def __init__(self, client: WebClient) -> None:
        self._client = client  # holds the bot token
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._resolve, name="bot-identity", daemon=True)
        self._thread.start()

    def _resolve(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self._client.auth_test()
            except (SlackApiError, SlackClientError, OSError) as error:
                logger.warning("auth.test failed (%s); retrying in %ss", error, RETRY_SECONDS)
                self._stop.wait(RETRY_SECONDS)
                continue
            self.bot_user_id, self.bot_id = answer.get("user_id"), answer.get("bot_id")
            return

    def authorizer(self) -> Callable[..., AuthorizeResult]:
        """Bolt's `authorize` callable (a plain function: Bolt passes arguments by name)."""

        def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=enterprise_id, team_id=team_id, bot_token=self._client.token,
                bot_user_id=self.bot_user_id, bot_id=self.bot_id,
            )  # fmt: skip

        return authorize
