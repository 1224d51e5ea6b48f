"""Events API listeners: messages in the alert channel are matched against the alert rules."""

from __future__ import annotations

from slack_bolt import App

from bot.events import alert_messages


def register(app: App) -> None:
    """Attach event listeners to `app`."""
    app.event("message")(alert_messages.on_message)
