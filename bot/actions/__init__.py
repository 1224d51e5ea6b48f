"""Button listeners (block_actions), one per action_id."""

from __future__ import annotations

from slack_bolt import App

from bot.actions import alert_buttons, approval_buttons, checklist, comms_buttons, incident_buttons, run_buttons
from jobs.core.ids import ActionId


def register(app: App) -> None:
    """Attach every button listener to `app`."""
    app.action(ActionId.ROLLBACK_CONFIRM.value)(run_buttons.confirm)
    app.action(ActionId.ROLLBACK_CANCEL.value)(run_buttons.cancel)
    app.action(ActionId.ROLLBACK_RETRY.value)(run_buttons.retry)
    app.action(ActionId.ROLLBACK_ESCALATE.value)(run_buttons.escalate)
    app.action(ActionId.APPROVAL_APPROVE.value)(approval_buttons.approve)
    app.action(ActionId.APPROVAL_REJECT.value)(approval_buttons.reject)
    app.action(ActionId.CHECKLIST_VERIFIED.value)(checklist.verified)
    app.action(ActionId.PD_ACKNOWLEDGE.value)(incident_buttons.acknowledge)
    app.action(ActionId.PD_RESOLVE.value)(incident_buttons.resolve)
    app.action(ActionId.STAKEHOLDERS_NOTIFIED.value)(incident_buttons.notified)
    app.action(ActionId.ALERT_ROLLBACK.value)(alert_buttons.rollback)
    app.action(ActionId.ALERT_KEEP_WATCHING.value)(alert_buttons.keep_watching)
    app.action(ActionId.ALERT_SILENCE.value)(alert_buttons.silence)
    comms_buttons.register(app)
