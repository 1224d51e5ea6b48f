"""Who may do what, from the runbook's `access` section. Unset: nobody may change anything."""

from __future__ import annotations

from typing import Literal

from jobs.exceptions import RollbotError
from jobs.runbook.model import Runbook

Action = Literal["rollback", "preflight", "validate", "cancel", "verify", "approve", "incident"]

HOW_TO_GRANT = (
    "Add an `access:` section to the runbook, e.g.\n"
    "```access:\n  roles:\n    operator: {users: [U0123ONCALL], groups: [S0ONCALL]}\n"
    "    approver: {users: [U0456LEAD]}\n  default: operator\n  actions: {approve: approver}```"
)


class AccessDenied(RollbotError):
    """The user lacks the role an action needs; the message names the role."""


def required_role(runbook: Runbook, action: Action) -> str | None:
    """The role `action` needs (None when the runbook has no access section)."""
    if runbook.access is None:
        return None
    return runbook.access.actions.get(action, runbook.access.default)


def holds(runbook: Runbook, user_id: str, role: str) -> bool:
    """Whether the Slack user holds `role` (user IDs; user groups are resolved by the caller)."""
    if runbook.access is None or role not in runbook.access.roles:
        return False
    return user_id in runbook.access.roles[role].users


def authorize(runbook: Runbook, user_id: str, action: Action, what: str) -> None:
    """`AccessDenied` unless `user_id` may perform `action`; `what` describes it for the message."""
    role = required_role(runbook, action)
    if role is None:
        raise AccessDenied(f"Nobody may {what} yet: the runbook grants no roles. {HOW_TO_GRANT}")
    if not holds(runbook, user_id, role):
        raise AccessDenied(f"Sorry <@{user_id}>, {what} requires the `{role}` role.")
