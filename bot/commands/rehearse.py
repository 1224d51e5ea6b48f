"""`/rollback <phase> [<level>] --rehearse` and `/rollback readiness`: a rehearsal needs no confirm
(nothing real changes), only the role `rehearse` maps to (the runbook's default: the operator).
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot import deps
from bot.commands.parsing import Command
from jobs.core.exceptions import AccessDenied, AnalysisOnlyError, NoCheckpointError, RollbotError, UnknownTargetError
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
        ack(response_type="ephemeral", text=error.user_message)
        return
    except UnknownTargetError as error:
        ack(response_type="ephemeral", text=f"{error.user_message}\n\n{blocks.help_text(books)}")
        return
    try:
        deps.authorize(book.service, user, "rehearse", f"rehearsing {plan.phase_name}", plan.phase_name,
                       plan.level_name)  # fmt: skip
        plan.require_checkpoint()
    except AccessDenied as denied:
        ctx.audit(actor=user, action="rehearsal.request", result="refused", phase=plan.phase_name,
                  level=plan.level_name, reason=denied.user_message)  # fmt: skip
        ack(response_type="ephemeral", text=denied.user_message)
        return
    except NoCheckpointError as error:
        ack(response_type="ephemeral", text=f"Nothing to rehearse a reset to yet. {error.user_message}")
        return
    ack(response_type="ephemeral", text=f"⏳ Rehearsing {plan.phase_name} {plan.level_name} on a scratch clone "
                                        "(nothing real changes)…")  # fmt: skip
    try:
        record = enqueue_rehearsal(ctx, plan, deps.actor(user))
    except RedisError:
        logger.exception("Redis unreachable while queuing a rehearsal of %s for %s", plan.phase_name, user)
        respond(text="⚠️ rollbot cannot reach Redis: rehearse from the deploy host with "
                     f"`rollbot rehearse {plan.phase_name} {plan.level_name}{book.service_option}`.")  # fmt: skip
        return
    except RollbotError as error:
        respond(text=error.user_message)
        return
    respond(text=f"Queued rehearsal `{record.run_id}`; its progress and verdict go to the alert channel.")


def readiness_text(books: Catalog) -> str:
    """`/rollback readiness`: every service, phase and level (checkpoints as Redis has them)."""
    ctx = deps.context()
    now = ctx.clock()
    return blocks.readiness_list(readiness.rows(ctx, list(books), now), now)
