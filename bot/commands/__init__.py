"""Slash command listeners: /rollback, /preflight, /validate."""

from __future__ import annotations

from slack_bolt import App

from bot.commands import preflight, rollback, validate


def register(app: App) -> None:
    """Attach every slash command listener to `app`."""
    app.command("/rollback")(rollback.handle)
    app.command("/preflight")(preflight.handle)
    app.command("/validate")(validate.handle)
