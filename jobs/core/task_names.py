"""The one registry of RQ task names: every job rollbot enqueues or schedules, by the dotted name RQ
stores in Redis. Code enqueues `Task.X`, never a spelled-out string, so a rename is one line here
(and a test resolves every entry to a function of `jobs.tasks`). The names must not change while
jobs with the old name may still be queued or scheduled.
"""

from __future__ import annotations

from typing import Final

_MODULE: Final = "jobs.tasks"


class Task:
    """RQ task names (plain strings, as RQ stores them)."""

    ROLLBACK: Final = f"{_MODULE}.rollback_job"
    PREFLIGHT: Final = f"{_MODULE}.preflight_job"
    VALIDATION: Final = f"{_MODULE}.validation_job"
    DELIVER_RUN_MESSAGE: Final = f"{_MODULE}.deliver_run_message"
    DELIVER_PAGERDUTY_EVENT: Final = f"{_MODULE}.deliver_pagerduty_event"
    RECORD_STAKEHOLDERS_NOTIFIED: Final = f"{_MODULE}.record_stakeholders_notified"
    REMIND_STAKEHOLDERS: Final = f"{_MODULE}.remind_stakeholders"
    ESCALATE_RUN: Final = f"{_MODULE}.escalate_run"
    CHANGE_INCIDENT: Final = f"{_MODULE}.change_incident"
    HANDLE_PAGERDUTY_WEBHOOK: Final = f"{_MODULE}.handle_pagerduty_webhook"
    MONITOR_POLL: Final = f"{_MODULE}.monitor_poll"
    RECHECK_ALERT: Final = f"{_MODULE}.recheck_alert"
    ACT_ON_ALERT: Final = f"{_MODULE}.act_on_alert"
    SYNC_ALERT_CARD: Final = f"{_MODULE}.sync_alert_card"
    LEARN_ALERT_CHANNEL: Final = f"{_MODULE}.learn_alert_channel"
    SYNC_APPROVAL_CARD: Final = f"{_MODULE}.sync_approval_card"
    EXPIRE_APPROVAL: Final = f"{_MODULE}.expire_approval"
    POST_INCIDENT_REPORT: Final = f"{_MODULE}.post_incident_report"
    REFRESH_USER_GROUPS: Final = f"{_MODULE}.refresh_user_groups"
    REDELIVER_SLACK: Final = f"{_MODULE}.redeliver_slack"
    REHEARSAL: Final = f"{_MODULE}.rehearsal_job"  # a rehearsal (run id), or a tick of the schedule's chain
    OPEN_INCIDENT_CLOCKS: Final = f"{_MODULE}.open_incident_clocks"
    SEND_STAKEHOLDER_MAIL: Final = f"{_MODULE}.send_stakeholder_mail"
    MARK_CUSTOMER_FACING: Final = f"{_MODULE}.mark_customer_facing"
    STATUSPAGE_DUE: Final = f"{_MODULE}.statuspage_due"
    PUBLISH_STATUSPAGE: Final = f"{_MODULE}.publish_statuspage"
    OFFER_STATUSPAGE_RESOLUTION: Final = f"{_MODULE}.offer_statuspage_resolution"
    EXECUTIVE_DUE: Final = f"{_MODULE}.executive_due"
    DOCUMENT_PHASE1_BLOCKERS: Final = f"{_MODULE}.document_phase1_blockers"
    FILL_ROLLBACK_MODAL: Final = f"{_MODULE}.fill_rollback_modal"
    PUBLISH_HOME: Final = f"{_MODULE}.publish_home"
    REFRESH_HOMES: Final = f"{_MODULE}.refresh_homes"


def all_tasks() -> dict[str, str]:
    """Every registered name, by its constant's name (for the registry's own test)."""
    return {name: value for name, value in vars(Task).items() if name.isupper()}
