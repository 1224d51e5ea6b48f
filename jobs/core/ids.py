"""Identifiers integrations, tests and people's muscle memory depend on (fixed: docs/slack.md lists them)."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """`action_id` of every button rollbot posts."""

    ROLLBACK_CONFIRM = "rollback_confirm"
    ROLLBACK_CANCEL = "rollback_cancel"
    ROLLBACK_RETRY = "rollback_retry"
    ROLLBACK_ESCALATE = "rollback_escalate"
    APPROVAL_APPROVE = "approval_approve"
    APPROVAL_REJECT = "approval_reject"
    PD_ACKNOWLEDGE = "pd_acknowledge"
    PD_RESOLVE = "pd_resolve"
    STAKEHOLDERS_NOTIFIED = "stakeholders_notified"
    CHECKLIST_VERIFIED = "checklist_verified"
    ALERT_ROLLBACK = "alert_rollback"
    ALERT_KEEP_WATCHING = "alert_keep_watching"
    ALERT_SILENCE = "alert_silence"
    INCIDENT_CUSTOMER_FACING = "incident_customer_facing"
    STAKEHOLDERS_SEND = "stakeholders_send"
    STATUSPAGE_PUBLISH = "statuspage_publish"
    PHASE1_BLOCKERS = "phase1_blockers"
    HOME_ROLLBACK = "home_rollback"
    HOME_PREFLIGHT = "home_preflight"
    HOME_REFRESH = "home_refresh"


class MetadataType(StrEnum):
    """`metadata.event_type` of rollbot's messages."""

    RUN = "rollbot_run"
    ALERT = "rollbot_alert"
    APPROVAL = "rollbot_approval"
    INCIDENT = "rollbot_incident"  # an extension: the PagerDuty incident card
    READINESS = "rollbot_readiness"  # a level's rehearsal verdict changed


class ModalField(StrEnum):
    """The rollback modal's selects: each is both the input block's `block_id` and its `action_id`."""

    SERVICE = "modal_service"
    PHASE = "modal_phase"
    LEVEL = "modal_level"


class CallbackId(StrEnum):
    """`callback_id` of rollbot's modals and of its message shortcut."""

    ROLLBACK_MODAL = "rollback_modal"
    PREFLIGHT_MODAL = "preflight_modal"
    ROLLBACK_FROM_MESSAGE = "rollback_from_message"
    PHASE1_BLOCKERS = "phase1_blockers"
