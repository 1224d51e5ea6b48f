"""Button listeners (block_actions), one per action_id."""

from __future__ import annotations

from slack_bolt import App

from bot.actions import alert_buttons, approval_buttons, checklist, comms_buttons, incident_buttons, run_buttons
from bot.refusals import answered
from jobs.core.ids import ActionId


def register(app: App) -> None:
    """Attach every button listener to `app`; their refusals are audited and answered by `answered`."""
    app.action(ActionId.ROLLBACK_CONFIRM.value)(answered(run_buttons.confirm))
    app.action(ActionId.ROLLBACK_CANCEL.value)(answered(run_buttons.cancel))
    app.action(ActionId.ROLLBACK_RETRY.value)(answered(run_buttons.retry))
    app.action(ActionId.ROLLBACK_ESCALATE.value)(answered(run_buttons.escalate))
    app.action(ActionId.APPROVAL_APPROVE.value)(answered(approval_buttons.approve))
    app.action(ActionId.APPROVAL_REJECT.value)(answered(approval_buttons.reject))
    app.action(ActionId.CHECKLIST_VERIFIED.value)(answered(checklist.verified))
    app.action(ActionId.PD_ACKNOWLEDGE.value)(answered(incident_buttons.acknowledge))
    app.action(ActionId.PD_RESOLVE.value)(answered(incident_buttons.resolve))
    app.action(ActionId.STAKEHOLDERS_NOTIFIED.value)(answered(incident_buttons.notified))
    app.action(ActionId.ALERT_ROLLBACK.value)(answered(alert_buttons.rollback))
    app.action(ActionId.ALERT_KEEP_WATCHING.value)(answered(alert_buttons.keep_watching))
    app.action(ActionId.ALERT_SILENCE.value)(answered(alert_buttons.silence))
    comms_buttons.register(app)
