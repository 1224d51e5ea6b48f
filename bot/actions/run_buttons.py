"""Roll back now, Cancel, Retry and Escalate. A click never trusts its value for authorization."""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot import deps
from bot.refusals import refusing
from bot.replies import reply
from jobs.core.exceptions import RollbotError
from jobs.guardrails.approvals import request_approval
from jobs.records.runs import RunRecord
from jobs.runs.enqueue import Origin, enqueue_once
from jobs.runs.lifecycle import cancel_run
from jobs.runs.plan import Kind, Plan, select
from jobs.slack import blocks
from jobs.slack.notifier import alert_channel, next_level

logger = logging.getLogger(__name__)


def _action(body: dict[str, Any]) -> tuple[str, str]:
    """The clicking user and the button's value."""
    return body["user"]["id"], str(body["actions"][0].get("value") or "")


def _start(
    respond: Respond,
    plan: Plan,
    user: str,
    token: str,
    replace: bool,
    parent: RunRecord | None = None,
    shown_commit: str | None = None,
    pinned: tuple[str, str | None] | None = None,
) -> None:
    """Authorize `user`, check the checkpoint is still the one the plan showed (`shown_commit`), then
    enqueue `plan` once per `token` (double clicks and retries are no-ops). A `pinned` checkpoint
    (commit, tag: what a run's message showed) goes with the run: the runner refuses it if the
    phase's checkpoint moved.
    """
    ctx = deps.context()
    try:
        with refusing(user, "rollback.request", phase=plan.phase_name, level=plan.level_name):
            deps.authorize(plan.runbook.service, user, "rollback", f"rolling back {plan.phase_name}",
                           plan.phase_name, plan.level_name)  # fmt: skip
            if plan.approvals > 1 and pinned:  # an approval records the checkpoint of now: check it here
                shown_commit = pinned[0]
            if shown_commit is not None and shown_commit != (plan.checkpoint.commit if plan.checkpoint else None):
                now = plan.checkpoint.commit[:12] if plan.checkpoint else "none"
                raise RollbotError(
                    f"The checkpoint changed since this plan was shown ({shown_commit[:12]} → {now}); nothing "
                    f"was started. `/rollback {plan.runbook.service_word}{plan.phase_name}` shows the new plan."
                )
            if plan.approvals > 1:  # the two-person rule: this confirm is the first approval
                approval = request_approval(ctx, plan, deps.actor(user), token, Origin(parent=parent))
                reply(respond, blocks.approval_requested(approval, alert_channel(ctx, plan.runbook)), replace=replace)
                return
            commit, tag = pinned or (None, None)
            origin = Origin(parent=parent, checkpoint_commit=commit, checkpoint_tag=tag)
            record, created = enqueue_once(ctx, plan, deps.actor(user), token, origin)
    except RedisError:
        logger.exception("Redis unreachable while starting %s for %s", plan.phase_name, user)
        reply(respond, blocks.manual_fallback(plan))
        return
    except RollbotError as error:  # said, never raised after the ack (a refusal is said by `answered`)
        reply(respond, error.user_message)
        return
    channel = alert_channel(ctx, plan.runbook)
    if created:
        text = (f"✅ Confirmed by <@{user}>: {plan.kind} {blocks.target(plan)} is run `{record.run_id}`. "
                f"Progress in {channel}.")  # fmt: skip
    else:
        text = f"Already started as run `{record.run_id}` ({record.status}); progress in {channel}."
    reply(respond, text, replace=replace)


def _plan(respond: Respond, service: str | None, kind: Kind, phase: str, level: str | None) -> Plan | None:
    """The plan a click asks for, or None when there is none (said: after the ack nothing may raise,
    Bolt would answer the click as unhandled).
    """
    try:
        book = deps.runbook(service)
    except RollbotError as error:
        reply(respond, error.user_message)
        return None
    try:
        return deps.plan(book, kind, phase, level)
    except RollbotError as error:
        reply(respond, error.user_message)
    except RedisError:
        logger.exception("Redis unreachable while planning %s of %s", phase, book.service)
        reply(respond, blocks.manual_fallback(select(book, kind, phase, level)))
    return None


def confirm(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Roll back now* on the plan: start the run exactly once."""
    ack()
    user, value = _action(body)
    request = json.loads(value)
    plan = _plan(respond, request.get("service"), request["kind"], request["phase"], request["level"])
    if plan is None:
        return
    _start(respond, plan, user, f"confirm:{request['token']}", replace=True, shown_commit=request.get("commit", ""))


def cancel(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Cancel* on a plan (nothing ran) or *Cancel run* on a run message."""
    ack()
    user, run_id = _action(body)
    if not run_id:
        reply(respond, "Cancelled: nothing was run.", replace=True)
        return
    ctx = deps.context()
    try:
        with refusing(user, "run.cancel", run_id=run_id):
            target = ctx.runs.get(run_id)
            deps.authorize(target.service, user, "cancel", "cancelling a run", target.phase, target.level)
            record = cancel_run(ctx, run_id, user)
    except RollbotError as error:
        reply(respond, error.user_message)
        return
    state = "cancelled" if record.status == "cancelled" else "being cancelled; its running step is stopped"
    reply(respond, f"🛑 Run `{run_id}` is {state}.")


def _rerun(body: dict[str, Any], respond: Respond, escalate: bool) -> None:
    user, run_id = _action(body)
    ctx = deps.context()
    try:
        previous = ctx.runs.get(run_id)
        book = deps.runbook(previous.service)
    except RollbotError as error:
        reply(respond, error.user_message)
        return
    level = next_level(book, previous) if escalate else previous.level
    if level is None:
        reply(respond, f"{previous.phase} has no level after {previous.level}.")
        return
    plan = _plan(respond, previous.service, "rollback", previous.phase, level)
    if plan is None:
        return
    if escalate and plan.needs_checkpoint and plan.checkpoint is None:
        reply(respond, f"No checkpoint recorded for {plan.phase_name}.")
        return
    # The run resets to the checkpoint the failed run's message showed, or is refused if it moved.
    shown = previous.checkpoint_commit
    pinned = (shown, previous.checkpoint_tag) if shown and plan.needs_checkpoint else None
    _start(respond, plan, user, f"{'escalate' if escalate else 'retry'}:{run_id}", replace=False, parent=previous,
           pinned=pinned)  # fmt: skip


def retry(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Retry* on a failed run: the same phase and level again (once per failed run)."""
    ack()
    _rerun(body, respond, escalate=False)


def escalate(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Escalate to next level* on a failed run (Phase 3: level1 → level2 → level3)."""
    ack()
    _rerun(body, respond, escalate=True)
