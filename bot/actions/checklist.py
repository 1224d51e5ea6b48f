"""*Verified* on a validation card: records who checked an item by hand, and when."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, Respond

from bot import deps
from bot.refusals import refusing
from bot.replies import reply
from jobs.core.exceptions import RollbotError
from jobs.runs.notify_queue import enqueue_delivery


def verified(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """Authorize, record the verification (first click wins), and queue the card's refresh."""
    ack()
    user = body["user"]["id"]
    run_id, _, index = str(body["actions"][0].get("value") or "").partition("|")
    ctx = deps.context()
    # a refusal, or no readable runbook, is said by `answered`
    with refusing(user, "checklist.verify", errors=(RollbotError,), run_id=run_id):
        run = ctx.runs.get(run_id) if ctx.redis.exists(ctx.keys.run(run_id)) else None
        deps.authorize(run.service if run else None, user, "verify", "verifying checklist items",
                       run.phase if run else None)  # fmt: skip
    if not index.isdigit() or not ctx.redis.exists(ctx.keys.run(run_id)):
        reply(respond, "That checklist is no longer known.")
        return
    entry = json.dumps({"user": user, "at": ctx.clock().isoformat()})
    if ctx.redis.hsetnx(ctx.keys.run_verified(run_id), index, entry):
        ctx.audit(actor=user, action="checklist.verify", result="verified", run_id=run_id, item=int(index))
    enqueue_delivery(ctx, run_id, delay=0)  # the card is refreshed on a worker
