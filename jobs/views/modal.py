"""Filling the rollback modal on a worker: the selects' options, the plan preview (steps, budget,
usual duration, checkpoint, approvers) and whether it may be submitted, sent with `views.update`.
"""

from __future__ import annotations

import logging
import statistics

from slack_sdk.errors import SlackApiError

from jobs.context import Context
from jobs.core.durations import format_duration
from jobs.core.exceptions import RollbotError
from jobs.guardrails.access import required_role
from jobs.runbook.catalog import Catalog
from jobs.runbook.model import Runbook
from jobs.runs.plan import Kind, Plan, select, with_checkpoint
from jobs.slack.blocks.modal import ModalForm, ModalState, rollback_modal

logger = logging.getLogger(__name__)

USUAL_RUNS = 200  # recent runs looked at for how long a phase/level usually takes


def _phases(book: Runbook, kind: str) -> list[tuple[str, str]]:
    if kind == "rollback":
        return [(n, p.title) for n, p in book.phases.items() if p.levels and not p.analysis_only]
    return [(n, p.title) for n, p in book.phases.items() if p.preflight and not p.analysis_only]


def _levels(book: Runbook, phase: str | None) -> list[tuple[str, str]]:
    found = book.phases.get(phase or "")
    if found is None:
        return []
    return [(name, f"{name} — {level.title + ', ' if level.title else ''}budget {format_duration(level.budget)}")
            for name, level in found.levels.items()]  # fmt: skip


def usual_duration(ctx: Context, plan: Plan) -> float | None:
    """The median duration of this phase/level's recent successful runs (None: never ran)."""
    took = [r.elapsed for r in ctx.runs.recent(USUAL_RUNS)
            if r.service == plan.runbook.service and r.kind == plan.kind and r.phase == plan.phase_name
            and r.level == plan.level_name and r.status == "succeeded" and r.elapsed is not None]  # fmt: skip
    return statistics.median(took) if took else None


def approvers(book: Runbook, plan: Plan) -> str | None:
    """Who may approve under the two-person rule: the role's users, as mentions."""
    role = required_role(book, "approve", plan.phase_name, plan.level_name)
    if role is None or book.access is None or role not in book.access.roles:
        return None
    holders = book.access.roles[role]
    people = [f"<@{u}>" for u in holders.users] + [f"<!subteam^{g}>" for g in holders.groups]
    return f"the `{role}` role ({', '.join(people)})" if people else f"the `{role}` role"


def blocker(plan: Plan) -> str | None:
    """Why the plan cannot be submitted, naming the pre-flight to run (None: it can)."""
    if plan.needs_checkpoint and plan.checkpoint is None:
        word = plan.runbook.service_word
        return (f"Nothing to roll back to yet: no checkpoint is recorded for {plan.phase_name}. "
                f"Run `/preflight {word}{plan.phase_name}` (or *Pre-flight…* on the Home tab) "
                "before the change.")  # fmt: skip
    return None


def form(ctx: Context, books: Catalog, state: ModalState) -> ModalForm:
    """The modal for `state`: defaults filled in (the only service, the first phase and level), the
    plan planned with the phase's recorded checkpoint, and what keeps it from being submitted."""
    services = books.services
    if state.service not in books.books:
        state.service = services[0] if len(services) == 1 else None
    notes = [state.note] if state.note else []
    if state.service is None:
        return ModalForm(state, services, [], notes=[*notes, "Choose the service to see its phases."])
    book = books.books[state.service]
    phases = _phases(book, state.kind)
    if state.phase not in dict(phases):
        state.phase = phases[0][0] if phases else None
    levels = _levels(book, state.phase) if state.kind == "rollback" else []
    if state.kind == "rollback" and state.level not in dict(levels):
        state.level = levels[0][0] if levels else None
    if state.kind != "rollback":
        state.level = None
    result = ModalForm(state, services, phases, levels, notes=notes)
    if state.phase is None:
        result.problem = f"{book.service} has no phase to {state.kind.replace('rollback', 'roll back')}."
        return result
    kind: Kind = "preflight" if state.kind == "preflight" else "rollback"
    try:
        chosen = select(book, kind, state.phase, state.level)
    except RollbotError as error:
        result.problem = error.user_message
        return result
    plan = with_checkpoint(chosen, ctx.checkpoints.get(book.service, chosen.phase_name))
    result.plan = plan
    result.usual = usual_duration(ctx, plan)
    result.approvers = approvers(book, plan) if plan.approvals > 1 else None
    result.problem = blocker(plan) if kind == "rollback" else None
    state.commit = plan.checkpoint.commit if plan.checkpoint else None
    state.previewed = state.selection()
    return result


def fill(ctx: Context, books: Catalog, view_id: str, state: ModalState) -> bool:
    """Send the filled modal with `views.update`. False when Slack refused it (the modal was
    closed, or its view is gone): nothing to retry, the person is no longer looking."""
    view = rollback_modal(form(ctx, books, state))
    try:
        ctx.slack.views_update(view_id=view_id, view=view)
    except SlackApiError as error:
        logger.warning("modal %s not updated: %s", view_id, error.response.get("error"))
        return False
    return True
