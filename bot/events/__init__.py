"""Events API listeners. Messages in the alert channel are acknowledged; alert intake is issue #5."""

from __future__ import annotations

from slack_bolt import App


def register(app: App) -> None:
    """Attach event listeners to `app`."""
    app.event("message")(acknowledge_message)


def acknowledge_message() -> None:
    """Channel messages are acknowledged (Bolt acks events itself) and not acted on yet."""
