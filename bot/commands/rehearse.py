"""`/rollback <phase> [<level>] --rehearse` and `/rollback readiness`: a rehearsal needs no confirm
(nothing real changes), only the role `rehearse` maps to (the runbook's default: the operator).
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot import deps
from bot.commands.parsing import Command
from bot.refusals import refusing
from bot.replies import answer, reply
from jobs.core.exceptions import AnalysisOnlyError, NoCheckpointError, RollbotError, UnknownTargetError
from jobs.runbook.catalog import Catalog
from jobs.runbook.model import Runbook
from jobs.runs import readiness
from jobs.runs.rehearsal import enqueue_rehearsal
from jobs.slack import blocks

logger = logging.getLogger(__name__)


def rehearse(ack: Ack, respond: Respond, book: Runbook, books: Catalog, user: str, parsed: Command) -> None:
    """Authorize, ack, queue the rehearsal; its progress goes to the alert channel."""
    ctx = deps.context()
    try:
        plan = deps.plan(book, "rollback", parsed.phase, parsed.level)
    except AnalysisOnlyError as error:
        answer(ack, error.user_message)
        return
    except UnknownTargetError as error:
        answer(ack, f"{error.user_message}\n\n{blocks.help_text(books)}")
        return
    with refusing(user, "rehearsal.request", phase=plan.phase_name, level=plan.level_name):
        deps.authorize(book.service, user, "rehearse", f"rehearsing {plan.phase_name}", plan.phase_name,
                       plan.level_name)  # fmt: skip
    try:
        plan.require_checkpoint()
    except NoCheckpointError as error:
        answer(ack, f"Nothing to rehearse a reset to yet. {error.user_message}")
        return
    answer(ack, f"⏳ Rehearsing {plan.phase_name} {plan.level_name} on a scratch clone (nothing real changes)…")
    try:
        record = enqueue_rehearsal(ctx, plan, deps.actor(user))
    except RedisError:
        logger.exception("Redis unreachable while queuing a rehearsal of %s for %s", plan.phase_name, user)
        reply(respond, "⚠️ rollbot cannot reach Redis: rehearse from the deploy host with "
                       f"`rollbot rehearse {plan.phase_name} {plan.level_name}{book.service_option}`.")  # fmt: skip
        return
    except RollbotError as error:
        reply(respond, error.user_message)
        return
    reply(respond, f"Queued rehearsal `{record.run_id}`; its progress and verdict go to the alert channel.")


def readiness_text(books: Catalog) -> str:
    """`/rollback readiness`: every service, phase and level (checkpoints as Redis has them)."""
    ctx = deps.context()
    now = ctx.clock()
    return blocks.readiness_list(readiness.rows(ctx, list(books), now), now)
