"""The two-person rule: a level with `approvals: 2` starts only when a second person holding the
approver role approves it (docs/slack.md). The requester's confirm posts the approval card and counts
as the first approval; the request expires after `ROLLBOT_APPROVAL_EXPIRY` (15 minutes).
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta

from redis.exceptions import LockError, RedisError, WatchError
from redis.lock import Lock
from rq import Retry

from jobs.context import Context
from jobs.core.exceptions import AccessDenied, RollbotError
from jobs.core.redis_values import optional_text
from jobs.core.task_names import Task
from jobs.guardrails.access import required_role
from jobs.records.approvals import Approval, ApprovalState, ApprovalStore
from jobs.records.runs import RunRecord, new_run_id
from jobs.runbook.catalog import runbook_for
from jobs.runbook.model import Runbook
from jobs.runs.enqueue import REQUEST_TTL_SECONDS, Origin, enqueue_run
from jobs.runs.plan import Plan, select, with_checkpoint
from jobs.slack import blocks, cards
from jobs.slack import channel as alert_channels

logger = logging.getLogger(__name__)

CARD_RETRY = Retry(max=8, interval=[2, 5, 10, 30, 60, 120, 300, 600])


def request_approval(ctx: Context, plan: Plan, requester: str, request: str, origin: Origin | None = None) -> Approval:
    """Record the request (once per `request` token: double clicks ask once), post its card and set
    its expiry. The requester's confirm is the first approval.
    """
    plan.require_checkpoint()
    origin = origin or Origin()
    store = ApprovalStore(ctx.redis, ctx.keys)
    key = ctx.keys.request(request)
    now = ctx.clock()
    run_id = new_run_id("rollback", now)
    if not ctx.redis.set(key, run_id, nx=True, ex=REQUEST_TTL_SECONDS):
        earlier_id = optional_text(ctx.redis.get(key)) or ""
        earlier = store.get(earlier_id)
        if earlier is None:
            raise RollbotError("This was just confirmed; the approval request is being posted.")
        if earlier.state == "pending" or not _replace_request(ctx, key, earlier_id, run_id):
            return earlier  # a double click, or another click just asked again
        # the earlier request expired or was rejected: this click asks again
    approval = Approval(
        run_id=run_id, service=plan.runbook.service, phase=plan.phase_name, level=plan.level_name or "",
        requested_by=requester, requested_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.rollbot_approval_expiry),
        checkpoint_tag=plan.checkpoint.tag if plan.checkpoint else None,
        checkpoint_commit=plan.checkpoint.commit if plan.checkpoint else None,
        parent_run_id=origin.parent.run_id if origin.parent else None, alert_id=origin.alert_id,
    )  # fmt: skip
    store.create(approval)
    ctx.audit(actor=requester, action="approval.request", result="pending", run_id=run_id, phase=plan.phase_name,
              level=plan.level_name, expires_at=approval.expires_at.isoformat())  # fmt: skip
    queue = ctx.queue("notify")
    queue.enqueue(Task.SYNC_APPROVAL_CARD, run_id, job_id=ctx.keys.job("approval-card", f"{run_id}-new"),
                  retry=CARD_RETRY, description=f"approval card {run_id}")  # fmt: skip
    # RQ schedules in whole seconds and may run a job up to a second early: aim past the expiry.
    expiry = approval.expires_at.replace(microsecond=0) + timedelta(seconds=2)
    queue.enqueue_at(expiry, Task.EXPIRE_APPROVAL, run_id, job_id=ctx.keys.job("approval-expiry", run_id),
                     description=f"approval expiry {run_id}")  # fmt: skip
    return approval


def _decision_lock(ctx: Context, run_id: str) -> Lock:
    return Lock(ctx.redis, f"{ctx.keys.approval(run_id)}:decide", timeout=30, blocking_timeout=10, thread_local=False)


def _settled(approval: Approval) -> str:
    by = f" by <@{approval.decided_by}>" if approval.decided_by else ""
    return f"This approval request was already {approval.state}{by}; nothing more was started."


def approve(ctx: Context, run_id: str, approver: str) -> RunRecord:
    """The second approval: start the run (once), as the requester's, naming the approver.
    `AccessDenied` for the requester themselves; `RollbotError` when it is no longer pending,
    expired, or the run cannot start (the request then stays pending).
    """
    store = ApprovalStore(ctx.redis, ctx.keys)
    lock = _decision_lock(ctx, run_id)
    if not lock.acquire():
        raise RollbotError("Someone else is deciding on this request right now; look at its card in a moment.")
    try:
        approval = store.get(run_id)
        if approval is None:
            raise RollbotError(f"No approval request `{run_id}`.")
        if approver == approval.requested_by:
            raise AccessDenied(f"Sorry <@{approver}>, you requested this rollback: a second person with the "
                               "approver role must approve it (two-person rule).")  # fmt: skip
        if approval.state != "pending":
            raise RollbotError(_settled(approval))
        if ctx.clock() >= approval.expires_at:
            _decide(ctx, run_id, "expired", None)
            raise RollbotError("This approval request expired; nothing was started. Ask again with `/rollback`.")
        plan = _plan(ctx, runbook_for(ctx, approval.service), approval)
        parent = ctx.runs.get(approval.parent_run_id) if approval.parent_run_id else None
        origin = Origin(parent=parent, alert_id=approval.alert_id, run_id=run_id, approved_by=approver)
        _decide(ctx, run_id, "approved", approver)  # first: a failure after this can never start it twice
        ctx.audit(actor=approver, action="approval.approve", result="approved", run_id=run_id,
                  requested_by=approval.requested_by)  # fmt: skip
        try:
            record = enqueue_run(ctx, plan, approval.requested_by, origin)
        except (RollbotError, RedisError):
            _decide(ctx, run_id, "pending", None, expected="approved")  # not started: it may be approved again
            ctx.audit(actor=approver, action="approval.approve", result="not started", run_id=run_id)
            raise
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    return record


def _plan(ctx: Context, runbook: Runbook, approval: Approval) -> Plan:
    """The plan the requester confirmed, provided the checkpoint is still the one they saw."""
    plan = with_checkpoint(select(runbook, "rollback", approval.phase, approval.level),
                           ctx.checkpoints.get(runbook.service, approval.phase))  # fmt: skip
    current = plan.checkpoint.commit if plan.checkpoint else None
    if current != approval.checkpoint_commit:
        again = f"/rollback {runbook.service_word}{approval.phase} {approval.level}"
        raise RollbotError(f"The checkpoint of {approval.phase} changed since this was requested; nothing was "
                           f"started. Ask again with `{again}`.")  # fmt: skip
    return plan


def reject(ctx: Context, run_id: str, user: str) -> Approval:
    """Reject a pending request (its requester withdraws it, or an approver declines it)."""
    lock = _decision_lock(ctx, run_id)
    if not lock.acquire():
        raise RollbotError("Someone else is deciding on this request right now; look at its card in a moment.")
    try:
        approval = ApprovalStore(ctx.redis, ctx.keys).get(run_id)
        if approval is None:
            raise RollbotError(f"No approval request `{run_id}`.")
        if approval.state != "pending":
            raise RollbotError(_settled(approval))
        decided = _decide(ctx, run_id, "rejected", user)
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    ctx.audit(actor=user, action="approval.reject", result="rejected", run_id=run_id)
    return decided


def expire(ctx: Context, run_id: str) -> bool:
    """Mark a request that is still pending past its expiry `expired` (RQ's scheduler calls this)."""
    lock = _decision_lock(ctx, run_id)
    if not lock.acquire():
        return False
    try:
        approval = ApprovalStore(ctx.redis, ctx.keys).get(run_id)
        if approval is None or approval.state != "pending" or ctx.clock() < approval.expires_at:
            return False
        _decide(ctx, run_id, "expired", None)
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    ctx.audit(actor="rollbot", action="approval.expire", result="expired", run_id=run_id)
    return True


def _replace_request(ctx: Context, key: str, old_id: str, run_id: str) -> bool:
    """Point the request token at a new approval if it still points at `old_id`."""
    with ctx.redis.pipeline() as pipe:
        try:
            pipe.watch(key)  # type: ignore[no-untyped-call]
            if optional_text(pipe.get(key)) != old_id:
                return False
            pipe.multi()
            pipe.set(key, run_id, ex=REQUEST_TTL_SECONDS)
            pipe.execute()
        except WatchError:
            return False
    return True


def _decide(
    ctx: Context, run_id: str, state: ApprovalState, user: str | None, expected: ApprovalState = "pending"
) -> Approval:
    """Move the request from `expected` to `state` (under its decision lock)."""
    now = ctx.clock()

    def settle(approval: Approval) -> bool:
        if approval.state != expected:
            return False
        approval.state, approval.decided_by, approval.decided_at = state, user, now
        return True

    decided = ApprovalStore(ctx.redis, ctx.keys).update(run_id, settle)
    if decided is None:
        raise RollbotError(f"No approval request `{run_id}`.")
    request_card_update(ctx, run_id)
    return decided


def request_card_update(ctx: Context, run_id: str) -> None:
    """Have a worker bring the approval card up to date."""
    try:
        ctx.queue("notify").enqueue(Task.SYNC_APPROVAL_CARD, run_id, retry=CARD_RETRY,
                                    job_id=ctx.keys.job("approval-card", f"{run_id}-{time.time_ns()}"),
                                    description=f"approval card {run_id}")  # fmt: skip
    except RedisError as error:
        logger.error("approval %s: card update not queued: %s", run_id, error)


def sync_card(ctx: Context, run_id: str) -> bool:
    """Post or update the approval card in the alert channel; False when Slack did not take it."""
    return cards.locked(ctx, f"{ctx.keys.approval(run_id)}:card", lambda: _sync_card(ctx, run_id))


def _sync_card(ctx: Context, run_id: str) -> bool:
    store = ApprovalStore(ctx.redis, ctx.keys)
    approval = store.get(run_id)
    if approval is None:
        return True
    runbook = runbook_for(ctx, approval.service)
    level = runbook.phases[approval.phase].levels.get(approval.level) if approval.phase in runbook.phases else None
    role = required_role(runbook, "approve", approval.phase, approval.level) or "approver"
    message = blocks.approval_card(approval, role, level.budget if level else None)
    channel = alert_channels.alert_channel(ctx, runbook)
    sent = cards.send(ctx, approval, channel, message, f"approval {run_id}")
    if isinstance(sent, tuple):
        alert_channels.remember(ctx, runbook, sent[0])
        store.update(run_id, cards.place(*sent))
    return sent is not False
