"""Who may do what, from the runbook's `access` section. Unset: nobody may change anything.

Roles are granted to Slack user IDs and to Slack user groups; a group's members come from
`usergroups.users.list`, cached in Redis for `ROLLBOT_GROUP_CACHE_SECONDS` (see `GroupMembers`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs import chains
from jobs.context import Context
from jobs.core.exceptions import AccessDenied
from jobs.core.task_names import Task
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

Action = Literal["rollback", "preflight", "validate", "cancel", "verify", "approve", "incident", "rehearse"]
Members = Callable[[str], frozenset[str] | None]  # group ID → its members (None: unknown right now)

HOW_TO_GRANT = (
    "Add an `access:` section to the runbook, e.g.\n"
    "```access:\n  roles:\n    operator: {users: [U0123ONCALL], groups: [S0ONCALL]}\n"
    "    approver: {users: [U0456LEAD]}\n  default: operator\n  actions: {approve: approver}```"
)


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
        unknown = [g for g in _groups_of(runbook, role) if members is not None and members(g) is None]
        hint = (f" (the members of {', '.join(unknown)} are not known right now: rollbot's worker refreshes "
                "them from Slack)") if unknown else ""  # fmt: skip
        raise AccessDenied(f"Sorry <@{user_id}>, {what} requires the `{role}` role.{hint}")


def _groups_of(runbook: Runbook, role: str) -> list[str]:
    return list(runbook.access.roles[role].groups) if runbook.access and role in runbook.access.roles else []


def check_channel(runbook: Runbook, channel_id: str, channel_name: str, command: str) -> None:
    """`AccessDenied` when the runbook limits commands to channels and this is not one of them."""
    allowed = runbook.access.channels if runbook.access else []
    if not allowed or channel_id in allowed or f"#{channel_name}" in allowed:
        return
    raise AccessDenied(f"`{command}` is accepted only in {', '.join(allowed)}.")


def check_channel_any(runbooks: Iterable[Runbook], channel_id: str, channel_name: str, command: str) -> None:
    """`check_channel` for commands about every service (status, history, help): accepted where any
    runbook accepts commands.
    """
    denials = []
    for book in runbooks:
        try:
            check_channel(book, channel_id, channel_name, command)
            return
        except AccessDenied as denied:
            denials.append(denied)
    if denials:
        raise denials[0]


STALE_AFTER_TTLS = 3  # members refreshed longer ago than this many TTLs are not trusted any more


def _group_key(ctx: Context, group_id: str) -> str:
    return f"{ctx.keys.namespace}:group:{group_id}"


class GroupMembers:
    """A Slack user group's members as the worker last fetched them (Redis only: no Slack call
    while answering Slack). Entries older than `STALE_AFTER_TTLS` × `ttl` are not trusted: the
    role is refused until the worker can ask Slack again.
    """

    def __init__(self, ctx: Context, ttl: float) -> None:
        self.ctx = ctx
        self.ttl = ttl

    def __call__(self, group_id: str) -> frozenset[str] | None:
        """The members of `group_id`, or None when they are not known recently enough."""
        raw = self.ctx.redis.get(_group_key(self.ctx, group_id))
        cached = json.loads(raw) if raw else None
        if cached is not None and time.time() - float(cached["at"]) < STALE_AFTER_TTLS * max(self.ttl, 1.0):
            return frozenset(cached["members"])
        logger.warning("members of user group %s not known recently: the role it grants is refused", group_id)
        return None


def groups_named(runbooks: Iterable[Runbook]) -> set[str]:
    """Every user group the runbooks grant a role to."""
    return {group for book in runbooks for role in (book.access.roles.values() if book.access else [])
            for group in role.groups}  # fmt: skip


def refresh_groups(ctx: Context, runbooks: Iterable[Runbook], client: WebClient) -> dict[str, int]:
    """Fetch the members of every group the runbooks name (`usergroups.users.list`). A definite
    answer from Slack (members, or an error such as `no_such_subteam`: no members) is stored; a
    network failure keeps the last entry, which stops being trusted once it is stale. Returns the
    member counts stored.
    """
    counts = {}
    for group in sorted(groups_named(runbooks)):
        try:
            answer = client.usergroups_users_list(usergroup=group)
            members = [str(user) for user in answer.get("users") or []]
        except SlackApiError as error:  # Slack answered: the group grants nobody
            logger.error("user group %s: Slack says %s; it grants no role", group, error.response.get("error"))
            members = []
        except (SlackClientError, OSError) as error:
            logger.warning("user group %s not refreshed: %s", group, error)
            continue
        ctx.redis.set(_group_key(ctx, group), json.dumps({"members": members, "at": time.time()}), ex=7 * 86400)
        counts[group] = len(members)
    return counts


GROUP_CHAIN = "@user-groups"  # not a health source name (those cannot start with @)


def ensure_group_refresh(ctx: Context, runbooks: Iterable[Runbook]) -> bool:
    """Keep the members of the runbooks' user groups fresh: a chain refreshing them every
    `ROLLBOT_GROUP_CACHE_SECONDS` (at least 1 s). True when it was (re)started.
    """
    if not groups_named(runbooks):
        return False
    return chains.ensure(ctx, group_chain(), max(1.0, ctx.settings.rollbot_group_cache_seconds), 120)


def group_chain() -> chains.Chain:
    """The chain refreshing user-group members."""
    return chains.Chain(GROUP_CHAIN, Task.REFRESH_USER_GROUPS, "refresh Slack user-group members")
