"""Modal listeners: opening the rollback modal (command, Home buttons, message shortcut), re-filling
it when a select changes, and its submission (the confirmation)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.refusals import answered
from bot.views import opening, submission
from jobs.core.ids import ActionId, CallbackId, ModalField


def _no_text(command: dict[str, Any]) -> bool:
    return not str(command.get("text") or "").strip()


def register(app: App) -> None:
    """Attach the modal listeners to `app`. Registered before the slash commands: `/rollback` with
    no text is theirs (any other text goes on to `bot.commands`)."""
    app.command("/rollback", matchers=[_no_text])(answered(opening.command))
    app.action(ActionId.HOME_ROLLBACK.value)(opening.home_rollback)
    app.action(ActionId.HOME_PREFLIGHT.value)(opening.home_preflight)
    app.shortcut(CallbackId.ROLLBACK_FROM_MESSAGE.value)(opening.shortcut)
    for field in ModalField:
        app.action(field.value)(opening.changed)
    app.view(CallbackId.ROLLBACK_MODAL.value)(submission.submit)
    app.view(CallbackId.PREFLIGHT_MODAL.value)(submission.submit)
