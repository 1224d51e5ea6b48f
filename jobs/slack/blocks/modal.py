"""Block Kit for the rollback modal (`rollback_modal`): service, phase and level selects and the plan
preview below them. The listener opens a small modal at once (`loading_modal`, inside Slack's 3 s
for `views.open`); a worker fills it (`rollback_modal`) with `views.update`, again after every change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from jobs.core.durations import format_duration
from jobs.core.ids import CallbackId, ModalField
from jobs.runs.plan import KIND_TITLES, Plan, command_text
from jobs.slack.blocks.words import clip, shorten

TITLES = {"rollback": "Roll back", "preflight": "Pre-flight"}
CALLBACKS = {"rollback": CallbackId.ROLLBACK_MODAL, "preflight": CallbackId.PREFLIGHT_MODAL}
OPTION_LIMIT = 75  # Slack's limit for an option's text


@dataclass
class ModalState:
    """What the modal carries between requests (its `private_metadata`): the kind, the one-time
    token its submission is confirmed with, the selection, and the checkpoint commit the preview
    showed (the run is pinned to it)."""

    kind: str = "rollback"
    token: str = ""
    service: str | None = None
    phase: str | None = None
    level: str | None = None
    commit: str | None = None
    previewed: str | None = None  # `service/phase/level` the preview shows (None: not filled yet)
    note: str | None = None

    def selection(self) -> str:
        """The selection as one comparable string."""
        return f"{self.service}/{self.phase}/{self.level}"

    def dump(self) -> str:
        """As `private_metadata` (Slack allows 3,000 characters; this is far below)."""
        return json.dumps({k: v for k, v in vars(self).items() if v is not None}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str | None) -> ModalState:
        """From `private_metadata`; unknown or missing fields are ignored."""
        try:
            raw: Any = json.loads(text or "{}")
        except ValueError:
            raw = {}
        if not isinstance(raw, dict):
            raw = {}
        known = {k: str(v) for k, v in raw.items() if k in cls.__dataclass_fields__ and v is not None}
        return cls(**known)


@dataclass
class ModalForm:
    """Everything the filled modal shows."""

    state: ModalState
    services: Sequence[str]
    phases: Sequence[tuple[str, str]]  # (name, title)
    levels: Sequence[tuple[str, str]] = ()  # (name, label)
    plan: Plan | None = None
    approvers: str | None = None  # who may approve, under the two-person rule
    usual: float | None = None  # how long this phase/level usually took, when known
    problem: str | None = None  # why it cannot be submitted (no checkpoint, analysis only…)
    notes: list[str] = field(default_factory=list)


def _option(value: str, label: str) -> Option:
    return Option(value=value, text=shorten(label, OPTION_LIMIT))


def _select(field_id: ModalField, label: str, options: Sequence[tuple[str, str]], chosen: str | None) -> InputBlock:
    choices = [_option(value, text) for value, text in options]
    initial = next((o for o in choices if o.value == chosen), None)
    element = StaticSelectElement(action_id=field_id.value, placeholder=f"Choose a {label.lower()}",
                                  options=choices, initial_option=initial)  # fmt: skip
    return InputBlock(block_id=field_id.value, label=label, element=element, dispatch_action=True)


def loading_modal(state: ModalState) -> View:
    """The small modal opened at once with the request's trigger_id; a worker fills it in."""
    kind = state.kind if state.kind in TITLES else "rollback"
    loading = MarkdownTextObject(text="⏳ Loading the runbook's phases and checkpoints…")
    blocks: list[Block] = [SectionBlock(text=loading)]
    if state.note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(state.note, 1900))]))
    return View(type="modal", callback_id=CALLBACKS[kind].value, title=TITLES[kind], close="Close",
                private_metadata=state.dump(), blocks=blocks)  # fmt: skip


def preview(form: ModalForm) -> list[Block]:
    """The plan preview: target, steps, budget, usual duration, checkpoint, approvers."""
    plan = form.plan
    if plan is None:
        return []
    lines = [f"*{KIND_TITLES[plan.kind]} of {plan.runbook.service} {plan.phase_name}*"
             + (f" {plan.level_name}" if plan.level_name else "") + f" — {plan.phase.title}",
             f"*Risk:* {plan.phase.risk} · *Budget:* {format_duration(plan.budget)}"
             + (f" · *Usually takes:* {format_duration(form.usual)}" if form.usual is not None else "")]  # fmt: skip
    if plan.checkpoint:
        lines.append(f"*Resets to:* `{plan.checkpoint.tag}` at `{plan.checkpoint.commit[:12]}`")
    elif plan.needs_checkpoint:
        lines.append("*Checkpoint:* none recorded")
    if plan.approvals > 1:
        lines.append(f"*Two-person rule:* the run starts when {form.approvers or 'an approver'} approves it")
    steps = "\n".join(f"{i}. {step.title} — `{command_text(step, plan)}`" for i, step in enumerate(plan.steps, 1))
    return [
        SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines)))),
        SectionBlock(text=MarkdownTextObject(text=clip(f"*Steps*\n{steps}" if steps else "*Steps*\nnone"))),
    ]


def rollback_modal(form: ModalForm) -> View:
    """The filled modal: the selects (each change re-fills it), the preview, and a submit button
    unless the plan cannot run (`problem` says why, e.g. which pre-flight to run)."""
    state = form.state
    kind = state.kind if state.kind in TITLES else "rollback"
    blocks: list[Block] = [
        _select(ModalField.SERVICE, "Service", [(s, s) for s in form.services], state.service),
        _select(ModalField.PHASE, "Phase", [(name, f"{name} — {title}") for name, title in form.phases], state.phase),
    ]
    if kind == "rollback" and form.levels:
        blocks.append(_select(ModalField.LEVEL, "Level", form.levels, state.level))
    blocks += preview(form)
    notes = [*form.notes, *([f"🚫 {form.problem}"] if form.problem else [])]
    if notes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(n, 1900)) for n in notes[:10]]))
    submit = None if form.problem or form.plan is None else TITLES[kind]
    return View(type="modal", callback_id=CALLBACKS[kind].value, title=TITLES[kind], close="Close", submit=submit,
                private_metadata=state.dump(), blocks=blocks)  # fmt: skip


def modal_done(kind: str, text: str) -> View:
    """What the modal shows once submitted (the run is in the alert channel)."""
    return View(type="modal", callback_id=CALLBACKS.get(kind, CallbackId.ROLLBACK_MODAL).value,
                title=TITLES.get(kind, "Roll back"), close="Close",
                blocks=[SectionBlock(text=MarkdownTextObject(text=clip(text)))])  # fmt: skip
