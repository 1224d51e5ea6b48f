"""`/rollback`: the plan with a confirm button, and status, history, cancel and help."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond
from slack_sdk.models.blocks import Block

from bot import deps
from bot.commands import rehearse
from bot.commands.parsing import Command, parse_rollback
from bot.commands.phase1 import analysis_only_blocks
from bot.refusals import refusing
from bot.replies import answer, reply
from jobs.core.exceptions import AnalysisOnlyError, RollbotError, UnknownTargetError
from jobs.guardrails.access import check_channel, check_channel_any
from jobs.runbook.catalog import Catalog
from jobs.runbook.model import Runbook
from jobs.runs import eta
from jobs.runs.lifecycle import cancel_run
from jobs.runs.plan import Plan, select
from jobs.slack import blocks

logger = logging.getLogger(__name__)


def handle(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
    """Parse → authorize → answer (ephemeral). Only `cancel` changes anything, and only after ack."""
    user = command["user_id"]
    deps.audit_command(user, command)
    books = deps.catalog()
    parsed = parse_rollback(command.get("text", ""), books)
    if parsed.action == "plan":
        try:
            book = books.choose(parsed.service, f"`/rollback <service> {parsed.phase}`")
        except UnknownTargetError as error:
            answer(ack, f"{error.user_message}\n\n{blocks.help_text(books)}")
            return
    channel_id, channel_name = command.get("channel_id", ""), command.get("channel_name", "")
    if parsed.action not in ("help", "cancel"):  # a cancel is checked against its run's service
        with refusing(user, f"rollback.{parsed.action}", channel=command.get("channel_id")):
            if parsed.action == "plan":
                check_channel(book, channel_id, channel_name, "/rollback")
            else:
                check_channel_any(books, channel_id, channel_name, "/rollback")
    if parsed.action == "help":
        answer(ack, blocks.help_text(books))
    elif parsed.action in ("status", "history"):
        answer(ack, _list_runs(parsed.action))
    elif parsed.action == "readiness":
        answer(ack, rehearse.readiness_text(books))
    elif parsed.action == "cancel":
        _cancel(ack, respond, books, user, parsed.run_id, (channel_id, channel_name))
    elif parsed.rehearse:
        rehearse.rehearse(ack, respond, book, books, user, parsed)
    else:
        _show_plan(ack, book, books, user, parsed)


def _show_plan(ack: Ack, book: Runbook, books: Catalog, user: str, parsed: Command) -> None:
    try:
        plan = deps.plan(book, "rollback", parsed.phase, parsed.level)
    except AnalysisOnlyError as error:  # the stop criteria as a checklist, and *Document blockers*
        answer(ack, error.user_message, analysis_only_blocks(book, parsed.phase or ""))
        return
    except UnknownTargetError as error:
        answer(ack, f"{error.user_message}\n\n{blocks.help_text(books)}")
        return
    except RedisError:
        logger.exception("Redis unreachable while planning %s for %s", parsed.phase, user)
        answer(ack, blocks.manual_fallback(select(book, "rollback", parsed.phase, parsed.level)))
        return
    try:  # each step's usual duration, and the expected total against the budget
        estimate: Block = blocks.estimate_block(plan, eta.for_plan(deps.context().redis, deps.context().keys, plan))
    except RedisError:
        estimate = blocks.note("Usual durations unavailable: Redis did not answer.")
    if parsed.dry_run:
        title, plan_blocks = blocks.plan_message(plan, token=None)
        plan_blocks.insert(3, estimate)
        answer(ack, title, plan_blocks)
        return
    with refusing(user, "rollback.request", phase=plan.phase_name, level=plan.level_name):
        deps.authorize(book.service, user, "rollback", f"rolling back {plan.phase_name}", plan.phase_name,
                       plan.level_name, books)  # fmt: skip
    blocker = _blocker(plan)  # a plan that cannot be confirmed here gets no button, and says why
    title, plan_blocks = blocks.plan_message(plan, token=None if blocker else secrets.token_urlsafe(12))
    plan_blocks.insert(3, estimate)
    if blocker:
        plan_blocks.append(blocks.note(blocker))
    elif plan.approvals > 1:
        plan_blocks.append(
            blocks.note(
                "✋ Two-person rule: confirming posts an approval card in the alert channel; "
                "the run starts when a second person with the approver role approves it."
            )
        )
    answer(ack, title, plan_blocks)


def _blocker(plan: Plan) -> str | None:
    if plan.needs_checkpoint and plan.checkpoint is None:
        preflight = f"/preflight {plan.runbook.service_word}{plan.phase_name}"
        return f"Nothing to roll back to yet: run `{preflight}` before the change."
    return None


def _list_runs(what: str) -> str:
    ctx = deps.context()
    now = ctx.clock()
    if what == "status":
        return blocks.run_list(ctx.runs.active(), now, "No rollback, pre-flight or validation is running.")
    return blocks.run_list(ctx.runs.recent(10, steps=False), now, "No runs yet.")


def _cancel(ack: Ack, respond: Respond, books: Catalog, user: str, run_id: str | None,
            channel: tuple[str, str]) -> None:  # fmt: skip
    ctx = deps.context()
    if run_id is None:
        # the list of what runs is shown where any runbook accepts commands
        with refusing(user, "rollback.cancel", channel=channel[0]):
            check_channel_any(books, *channel, "/rollback")
        active = ctx.runs.active()
        if len(active) != 1 or books.several:  # with several services, never guess which run is meant
            listed = blocks.run_list(active, ctx.clock(), "")
            answer(ack, "Nothing is running." if not active else f"Which one? `/rollback cancel <run>`:\n{listed}")
            return
        run_id = active[0].run_id
    try:
        with refusing(user, "run.cancel", run_id=run_id):
            target = ctx.runs.get(run_id)
            if target.service in books.books:
                check_channel(books.books[target.service], *channel, "/rollback")
            else:
                check_channel_any(books, *channel, "/rollback")
            deps.authorize(target.service, user, "cancel", "cancelling a run", target.phase, target.level)
    except RollbotError as error:  # no such run (a refusal is a `Refusal`, said by `answered`)
        answer(ack, error.user_message)
        return
    ack()
    try:
        record = cancel_run(ctx, run_id, user)
    except RollbotError as error:
        reply(respond, error.user_message)
        return
    if record.status == "cancelled":
        reply(respond, f"🛑 Run `{run_id}` cancelled before it started.")
    else:
        reply(respond, f"🛑 Cancelling run `{run_id}`: its running step is being stopped.")
