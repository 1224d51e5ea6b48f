"""Who may do what, from the runbook's `access` section. Unset: nobody may change anything.

Roles are granted to Slack user IDs and to Slack user groups; a group's members come from
`usergroups.users.list`, cached in Redis for `ROLLBOT_GROUP_CACHE_SECONDS` (see `GroupMembers`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.context import Context
from jobs.exceptions import RollbotError
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

Action = Literal["rollback", "preflight", "validate", "cancel", "verify", "approve", "incident"]
Members = Callable[[str], frozenset[str] | None]  # group ID → its members (None: unknown right now)

HOW_TO_GRANT = (
    "Add an `access:` section to the runbook, e.g.\n"
    "```access:\n  roles:\n    operator: {users: [U0123ONCALL], groups: [S0ONCALL]}\n"
    "    approver: {users: [U0456LEAD]}\n  default: operator\n  actions: {approve: approver}```"
)


class AccessDenied(RollbotError):
    """The user lacks the role an action needs; the message names the role."""


def required_role(runbook: Runbook, action: Action, phase: str | None = None, level: str | None = None) -> str | None:
    """The role `action` (on `phase`/`level`) needs: the most specific `actions` entry, else the
    default. None when the runbook has no access section.
    """
    if runbook.access is None:
        return None
    actions = runbook.access.actions
    for key in (f"{action}/{phase}/{level}", f"{action}/{phase}", action):
        if key in actions and "/None" not in key:
            return actions[key]
    return runbook.access.default


def holds(runbook: Runbook, user_id: str, role: str, members: Members | None = None) -> bool:
    """Whether the Slack user holds `role`: listed by ID, or a member of one of its user groups."""
    if runbook.access is None or role not in runbook.access.roles:
        return False
    granted = runbook.access.roles[role]
    if user_id in granted.users:
        return True
    return members is not None and any(user_id in (members(group) or frozenset()) for group in granted.groups)


def authorize(
    runbook: Runbook,
    user_id: str,
    action: Action,
    what: str,
    *,
    phase: str | None = None,
    level: str | None = None,
    members: Members | None = None,
) -> None:
    """`AccessDenied` unless `user_id` may perform `action` (on `phase`/`level`); `what` describes
    it for the message, which names the missing role.
    """
    role = required_role(runbook, action, phase, level)
    if role is None:
        raise AccessDenied(f"Nobody may {what} yet: the runbook grants no roles. {HOW_TO_GRANT}")
    if not holds(runbook, user_id, role, members):
        raise AccessDenied(f"Sorry <@{user_id}>, {what} requires the `{role}` role.")


def check_channel(runbook: Runbook, channel_id: str, channel_name: str, command: str) -> None:
    """`AccessDenied` when the runbook limits commands to channels and this is not one of them."""
    allowed = runbook.access.channels if runbook.access else []
    if not allowed or channel_id in allowed or f"#{channel_name}" in allowed:
        return
    raise AccessDenied(f"`{command}` is accepted only in {', '.join(allowed)}.")


class GroupMembers:
    """A Slack user group's members, cached in Redis for `ttl` seconds (shared by every process).
    A stale or missing entry is fetched again with a short, single attempt (the caller is
    answering Slack); when Slack cannot answer, the last known members are used.
    """

    def __init__(self, ctx: Context, client: WebClient, ttl: float) -> None:
        self.ctx = ctx
        self.client = client
        self.ttl = ttl

    def __call__(self, group_id: str) -> frozenset[str] | None:
        """The members of `group_id`, or None when they were never known and Slack cannot say."""
        key = f"{self.ctx.keys.namespace}:group:{group_id}"
        raw = self.ctx.redis.get(key)
        cached = json.loads(raw) if raw else None
        if cached is not None and time.time() - float(cached["at"]) < self.ttl:
            return frozenset(cached["members"])
        try:
            answer = self.client.usergroups_users_list(usergroup=group_id)
        except (SlackApiError, SlackClientError, OSError) as error:
            logger.warning("members of user group %s not refreshed (%s); using %s", group_id, error,
                           "the last known ones" if cached else "none")  # fmt: skip
            return frozenset(cached["members"]) if cached else None
        members = [str(user) for user in answer.get("users") or []]
        self.ctx.redis.set(key, json.dumps({"members": members, "at": time.time()}), ex=7 * 86400)
        return frozenset(members)
