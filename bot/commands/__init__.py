"""Slash command listeners: /rollback, /preflight, /validate."""

from __future__ import annotations

from slack_bolt import App

from bot.commands import preflight, rollback, validate
from bot.refusals import answered


def register(app: App) -> None:
    """Attach every slash command listener to `app`; their refusals are audited and answered by `answered`."""
    app.command("/rollback")(answered(rollback.handle))
    app.command("/preflight")(answered(preflight.handle))
    app.command("/validate")(answered(validate.handle))
