"""Block Kit builders (slack_sdk models), one module per card or message; side-effect free.
Callers use `from jobs.slack import blocks` and `blocks.<builder>`: every public builder is here.
"""

from jobs.slack.blocks.alert import ALERT_HEADERS, SILENCE_MINUTES, alert_card, alert_rollback_level, format_value
from jobs.slack.blocks.approval import APPROVAL_STATE_LINES, approval_card, approval_requested
from jobs.slack.blocks.comms import phase1_checklist, phase1_modal, stakeholder_draft, statuspage_draft
from jobs.slack.blocks.incident import delivered_late, incident_card, phone_escalation, stakeholder_reminder
from jobs.slack.blocks.readiness import estimate_block, readiness_card, readiness_list, rehearsal_reply
from jobs.slack.blocks.runs import (
    ChecklistState,
    failure_reply,
    help_text,
    manual_fallback,
    note,
    plan_message,
    result_line,
    run_list,
    run_message,
    step_line,
)
from jobs.slack.blocks.words import ICONS, RESULT_WORDS, SECTION_LIMIT, clip, target, who

__all__ = [
    "ALERT_HEADERS",
    "APPROVAL_STATE_LINES",
    "ICONS",
    "RESULT_WORDS",
    "SECTION_LIMIT",
    "SILENCE_MINUTES",
    "ChecklistState",
    "alert_card",
    "alert_rollback_level",
    "approval_card",
    "approval_requested",
    "clip",
    "delivered_late",
    "estimate_block",
    "failure_reply",
    "format_value",
    "help_text",
    "incident_card",
    "manual_fallback",
    "note",
    "phase1_checklist",
    "phase1_modal",
    "phone_escalation",
    "plan_message",
    "readiness_card",
    "readiness_list",
    "rehearsal_reply",
    "result_line",
    "run_list",
    "run_message",
    "stakeholder_draft",
    "stakeholder_reminder",
    "statuspage_draft",
    "step_line",
    "target",
    "who",
]
