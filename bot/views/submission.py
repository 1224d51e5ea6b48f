"""Submitting the rollback modal is the confirmation: the same authorization, one-time token (the
modal's), checkpoint pinning (the commit its preview showed) and two-person rule as *Roll back now*.
Anything that keeps it from starting comes back as a field error (`response_action: errors`) in
the ack, never as a silent close; what started replaces the modal (`response_action: update`).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack

from bot import deps
from bot.refusals import Refusal, refusing
from bot.views.opening import enqueue_fill, selected
from jobs.core.exceptions import RollbotError
from jobs.core.ids import ModalField
from jobs.guardrails.access import Action
from jobs.guardrails.approvals import request_approval
from jobs.runs.enqueue import Origin, enqueue_once
from jobs.runs.plan import Kind, Plan
from jobs.slack import blocks
from jobs.slack.blocks.modal import ModalState, modal_done
from jobs.slack.notifier import alert_channel
from jobs.views.modal import blocker

logger = logging.getLogger(__name__)

ERROR_LIMIT = 400  # a field error is a line under the select, not a page


class FieldError(Exception):
    """What keeps the submission from starting, shown under one of the modal's selects."""

    def __init__(self, field: ModalField, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message if len(message) <= ERROR_LIMIT else message[: ERROR_LIMIT - 1] + "…"


def _state(view: dict[str, Any]) -> tuple[ModalState, ModalState]:
    """The modal's state as its preview was filled, and the selection as submitted (to refill)."""
    state = ModalState.load(view.get("private_metadata"))
    values = (view.get("state") or {}).get("values") or {}
    level = (selected(values, ModalField.LEVEL) or state.level) if state.kind == "rollback" else None
    chosen = ModalState(kind=state.kind, token=state.token, level=level,
                        service=selected(values, ModalField.SERVICE) or state.service,
                        phase=selected(values, ModalField.PHASE) or state.phase)  # fmt: skip
    return state, chosen


def _plan(state: ModalState) -> Plan:
    try:
        book = deps.runbook(state.service)
    except RollbotError as error:
        raise FieldError(ModalField.SERVICE, error.user_message) from error
    kind: Kind = "preflight" if state.kind == "preflight" else "rollback"
    try:
        return deps.plan(book, kind, state.phase, state.level)
    except RollbotError as error:
        raise FieldError(ModalField.PHASE, error.user_message) from error


def start(user: str, state: ModalState, view_id: str) -> str:
    """Authorize `user` and start the plan the modal previewed (once per modal); what to say."""
    plan = _plan(state)
    last = ModalField.LEVEL if plan.kind == "rollback" else ModalField.PHASE
    what = f"{'rolling back' if plan.kind == 'rollback' else 'running the pre-flight of'} {plan.phase_name}"
    action: Action = "preflight" if plan.kind == "preflight" else "rollback"
    try:
        with refusing(user, f"{plan.kind}.request", phase=plan.phase_name, level=plan.level_name):
            deps.authorize(plan.runbook.service, user, action, what, plan.phase_name, plan.level_name)
    except Refusal as refusal:
        refusal.audit()
        raise FieldError(last, refusal.user_message) from refusal
    if plan.kind == "rollback" and (problem := blocker(plan)):
        raise FieldError(ModalField.PHASE, problem)
    now = plan.checkpoint.commit if plan.checkpoint else None
    if plan.kind == "rollback" and state.commit != now:
        enqueue_fill(
            view_id,
            ModalState(kind=state.kind, token=state.token, service=state.service, phase=state.phase, level=state.level),
        )  # the preview shows the new one
        shown = (state.commit or "none")[:12]
        raise FieldError(ModalField.PHASE, f"The checkpoint changed since this preview ({shown} → "
                                           f"{(now or 'none')[:12]}); nothing was started. Check the new one "
                                           "and submit again.")  # fmt: skip
    ctx = deps.context()
    request = f"modal:{state.token}"
    channel = alert_channel(ctx, plan.runbook)
    try:
        if plan.approvals > 1:  # the two-person rule: this submission is the first approval
            return blocks.approval_requested(request_approval(ctx, plan, deps.actor(user), request), channel)
        record, created = enqueue_once(ctx, plan, deps.actor(user), request, Origin())
    except RollbotError as error:
        raise FieldError(last, error.user_message) from error
    if not created:
        return f"Already started as run `{record.run_id}` ({record.status}); progress in {channel}."
    return (f"✅ Confirmed by <@{user}>: {plan.kind} {blocks.target(plan)} of {plan.runbook.service} is run "
            f"`{record.run_id}`. Progress in {channel}.")  # fmt: skip


def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """`view_submission` of the modal: start the run, or say under the selects why not."""
    user = body["user"]["id"]
    state, chosen = _state(view)
    kind, view_id = state.kind, str(view.get("id"))
    try:
        if not state.token or state.previewed is None or chosen.selection() != state.previewed:
            enqueue_fill(view_id, chosen)
            raise FieldError(
                ModalField.PHASE, "The preview is being updated for this choice; check it and submit again."
            )
        text = start(user, state, view_id)
    except FieldError as error:
        ack(response_action="errors", errors={error.field.value: error.message})
        return
    except RedisError:
        logger.exception("Redis unreachable while %s submitted the modal", user)
        ack(response_action="errors", errors={ModalField.PHASE.value: "Redis does not answer, nothing was started: "
                                              "use `rollbot rollback <phase>` on a host (break-glass)."})  # fmt: skip
        return
    ack(response_action="update", view=modal_done(kind, text))
