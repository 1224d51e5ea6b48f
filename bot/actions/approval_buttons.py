"""The approval card's buttons: *Approve* (a second person with the approver role starts the run)
and *Reject* (an approver declines, or the requester withdraws).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot import deps
from bot.refusals import refusing
from bot.replies import reply
from jobs.core.exceptions import RollbotError
from jobs.guardrails import approvals
from jobs.records.approvals import ApprovalStore
from jobs.slack import blocks
from jobs.slack.channel import shared_alert_channel

logger = logging.getLogger(__name__)


def approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Approve*: authorize the approver role, refuse the requester, start the run exactly once."""
    ack()
    user, run_id = body["user"]["id"], str(body["actions"][0].get("value") or "")
    ctx = deps.context()
    try:
        with refusing(user, "approval.approve", run_id=run_id):
            pending = ApprovalStore(ctx.redis, ctx.keys).get(run_id)
            deps.authorize(pending.service if pending else None, user, "approve", "approving a rollback",
                           pending.phase if pending else None, pending.level if pending else None)  # fmt: skip
            record = approvals.approve(ctx, run_id, user)
    except RollbotError as error:  # not a refusal (that is said by `answered`): the run could not start
        ctx.audit(actor=user, action="approval.approve", result="not started", run_id=run_id,
                  reason=error.user_message)  # fmt: skip
        reply(respond, error.user_message)
        return
    except RedisError:
        logger.exception("Redis unreachable while approving %s", run_id)
        reply(respond, "rollbot cannot reach Redis: nothing was started. The break-glass CLI works without it.")
        return
    channel = shared_alert_channel(ctx)  # the run has started: nothing may fail from here
    reply(respond, f"✅ Approved: rollback {blocks.target(record)} is run `{record.run_id}`, requested by "
                   f"{blocks.who(record.actor)}; progress in {channel}.")  # fmt: skip


def reject(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Reject*: the requester withdraws, or a person with the approver role declines."""
    ack()
    user, run_id = body["user"]["id"], str(body["actions"][0].get("value") or "")
    ctx = deps.context()
    try:
        with refusing(user, "approval.reject", errors=(RollbotError,), run_id=run_id):
            pending = ApprovalStore(ctx.redis, ctx.keys).get(run_id)
            if pending is None or user != pending.requested_by:
                deps.authorize(pending.service if pending else None, user, "approve", "rejecting a rollback request",
                               pending.phase if pending else None, pending.level if pending else None)  # fmt: skip
            approvals.reject(ctx, run_id, user)
    except RedisError:
        logger.exception("Redis unreachable while rejecting %s", run_id)
        reply(respond, "rollbot cannot reach Redis: nothing was recorded; try again in a moment.")
        return
    reply(respond, f"🚫 Rejected: run `{run_id}` will not start.")
