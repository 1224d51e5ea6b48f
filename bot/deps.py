"""What listeners need, built once per web process: the fail-fast context and the runbooks."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from jobs.context import Context
from jobs.factory import get_web_context
from jobs.guardrails import access
from jobs.guardrails.access import Action, GroupMembers
from jobs.runbook.catalog import Catalog, load_catalog
from jobs.runbook.model import Runbook
from jobs.runs.plan import Kind, Plan, select, with_checkpoint

logger = logging.getLogger(__name__)


def context() -> Context:
    """The web process's context (Redis fails fast, so Slack is answered in time)."""
    return get_web_context()


def catalog() -> Catalog:
    """The runbooks named by `RUNBOOK` (one file, or a folder of one per service), each re-read
    only when its file changes."""
    return load_catalog(context().settings.runbook)


def runbook(service: str | None) -> Runbook:
    """The runbook of `service` (the service a run, alert, approval or incident names); None: the
    only one (`UnknownTargetError` when there are several: nothing is ever done to a guessed service)."""
    return catalog().choose(service, "`/rollback <service> <phase>`, then confirm again")


def plan(book: Runbook, kind: Kind, phase: str | None, level: str | None = None) -> Plan:
    """The plan for a request, with the phase's recorded checkpoint (reads Redis)."""
    chosen = select(book, kind, phase, level)
    return with_checkpoint(chosen, context().checkpoints.get(book.service, chosen.phase_name))


def members() -> GroupMembers:
    """Slack user groups' members, for roles granted to groups (cached in Redis)."""
    ctx = context()
    return GroupMembers(ctx, ctx.settings.rollbot_group_cache_seconds)


def authorize(service: str | None, user_id: str, action: Action, what: str, phase: str | None = None,
              level: str | None = None, books: Catalog | None = None) -> None:  # fmt: skip
    """`AccessDenied` unless the user may do `action` (on `phase`/`level`) under the runbook of
    `service`, user groups included. With no service (a click on something that is gone) or one
    no runbook has any more, the user must hold the role under every runbook. `books`: the
    catalog the caller already has (else it is read).
    """
    books = books if books is not None else catalog()
    # A service no runbook has any more (its runs and alerts may remain): the role under every runbook.
    for book in [books.books[service]] if service in books.books else list(books):
        access.authorize(book, user_id, action, what, phase=phase, level=level, members=members())


def audit_command(user_id: str, command: dict[str, Any]) -> None:
    """Audit a slash command as received; an unreachable Redis never keeps it from being answered."""
    try:
        context().audit(actor=user_id, action="command", result=str(command.get("command", "")),
                        text=command.get("text", ""), channel=command.get("channel_id"))  # fmt: skip
    except RedisError:
        logger.warning("command of %s not audited: Redis unreachable", user_id)


def actor(user_id: str) -> str:
    """Runs started from Slack are attributed to the Slack user ID."""
    return user_id
