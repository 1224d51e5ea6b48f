"""Events API listeners: messages in the alert channel are matched against the alert rules; the App
Home tab is published when opened."""

from __future__ import annotations

from slack_bolt import App

from bot.events import alert_messages, app_home
from jobs.core.ids import ActionId


def register(app: App) -> None:
    """Attach event listeners to `app`."""
    app.event("message")(alert_messages.on_message)
    app.event("app_home_opened")(app_home.on_home_opened)
    app.action(ActionId.HOME_REFRESH.value)(app_home.on_refresh)
