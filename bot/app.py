"""Builds the Bolt app. Only wiring: listeners live in commands/, actions/, events/, views/."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from bot import actions, commands, errors, events, views
from bot.identity import BotIdentity
from jobs.core.settings import Settings, get_settings
from jobs.factory import slack_client

LISTENER_THREADS = 32  # Bolt's default of 5 would queue acks behind slow listeners under load


def create_app(settings: Settings | None = None) -> App:
    """A sync Bolt `App` from settings; its WebClient uses `SLACK_API_URL` with retry handlers.
    Nothing on the way to a request's ack calls Slack, so the app starts and answers commands
    even while Slack's Web API is down.
    """
    settings = settings or get_settings()
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = App(
        client=slack_client(None),  # the token comes with each request's authorization
        authorize=BotIdentity(slack_client(token)).authorizer(),
        signing_secret=signing_secret,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="bolt"),
        logger=logging.getLogger("bot.bolt"),
        name="rollbot",
    )
    views.register(app)  # first: `/rollback` with no text opens the modal
    commands.register(app)
    actions.register(app)
    events.register(app)
    errors.register(app)
    return app
