"""`/preflight <phase>`: record the checkpoint and run the pre-flight checks on a worker."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot import deps
from bot.commands.parsing import parse_phase_only
from bot.refusals import refusing
from bot.replies import answer, reply
from jobs.core.exceptions import RollbotError
from jobs.guardrails.access import check_channel
from jobs.runs.enqueue import enqueue_run
from jobs.runs.plan import KIND_TITLES, Kind, select
from jobs.slack import blocks

logger = logging.getLogger(__name__)


def handle(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
    """Parse → authorize → ack → enqueue; the checks' progress goes to the alert channel."""
    start(ack, respond, command, "preflight", "/preflight", phase_required=True)


def start(ack: Ack, respond: Respond, command: dict[str, Any], kind: Kind, name: str, phase_required: bool) -> None:
    """Shared by /preflight and /validate: they start a run at once (nothing to confirm)."""
    user = command["user_id"]
    deps.audit_command(user, command)
    books = deps.catalog()
    service, phase = parse_phase_only(command.get("text", ""), books, name, required=phase_required)
    book = books.choose(service, "`" + " ".join(filter(None, [name, "<service>", phase])) + "`")
    plan = select(book, kind, phase)
    what = "running pre-flight checks" if kind == "preflight" else "running validation"
    with refusing(user, f"{kind}.request", phase=plan.phase_name):
        check_channel(book, command.get("channel_id", ""), command.get("channel_name", ""), name)
        deps.authorize(book.service, user, "preflight" if kind == "preflight" else "validate", what,
                       phase=plan.phase_name)  # fmt: skip
    answer(ack, f"⏳ Queuing {KIND_TITLES[kind].lower()} for {plan.phase_name}…")
    try:
        record = enqueue_run(deps.context(), deps.plan(book, kind, phase), deps.actor(user))
    except RedisError:
        logger.exception("Redis unreachable while queuing %s %s for %s", kind, phase, user)
        reply(respond, blocks.manual_fallback(plan))
        return
    except RollbotError as error:
        reply(respond, error.user_message)
        return
    reply(respond, f"Queued run `{record.run_id}`; its progress goes to the alert channel.")
