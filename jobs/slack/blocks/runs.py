"""Block Kit for runs: the plan shown before anything runs, the run message updated as steps
finish (with its checklist), and the answers to `/rollback` status, history and help."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.metadata import Metadata

from jobs.core.durations import format_duration
from jobs.core.ids import ActionId, MetadataType
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.catalog import Catalog
from jobs.runs.plan import KIND_TITLES, Plan, command_text, level_list
from jobs.slack.blocks.words import ICONS, clip, target, who

# --- the plan, shown ephemerally before anything runs --------------------------------------


def plan_message(plan: Plan, token: str | None) -> tuple[str, list[Block]]:
    """The ephemeral plan with *Roll back now* / *Cancel* (no buttons when `token` is None: dry run)."""
    phase = plan.phase
    title = f"{KIND_TITLES[plan.kind]} plan: {plan.phase_name} — {phase.title}"
    level = ""
    if plan.level_name:
        level_title = phase.levels[plan.level_name].title
        level = f"*Level:* {plan.level_name}" + (f" ({level_title})" if level_title else "")
    if plan.checkpoint:
        checkpoint = f"*Resets to:* `{plan.checkpoint.tag}` at `{plan.checkpoint.commit[:12]}`"
    elif plan.needs_checkpoint:
        checkpoint = (
            f"*Checkpoint:* none recorded — run `/preflight {plan.runbook.service_word}{plan.phase_name}` first"
        )
    else:
        checkpoint = "*Checkpoint:* not needed"
    fields = [
        f"*Service:* {plan.runbook.service}",
        f"*Risk:* {phase.risk}",
        level or f"*Kind:* {plan.kind}",
        f"*Budget:* {format_duration(plan.budget)}",
        checkpoint,
    ]
    steps = "\n".join(
        f"{i}. *{step.title}*\n      `{command_text(step, plan)}`"
        + (f" (timeout {format_duration(step.timeout)})" if step.timeout else "")
        for i, step in enumerate(plan.steps, 1)
    )
    blocks: list[Block] = [
        HeaderBlock(text=title[:150]),
        SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields]),
        SectionBlock(text=MarkdownTextObject(text=clip(f"*Steps*\n{steps}"))),
    ]
    if token is None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Dry run: nothing will be changed.")]))
    else:
        commit = plan.checkpoint.commit if plan.checkpoint else None  # what the person saw is what runs
        value = json.dumps({"kind": plan.kind, "service": plan.runbook.service, "phase": plan.phase_name,
                            "level": plan.level_name, "token": token,
                            "commit": commit})  # fmt: skip
        confirm = ConfirmObject(
            title="Roll back now?",
            text=f"This runs {plan.kind} {target(plan)} of {plan.runbook.service} for real.",
            confirm="Roll back",
            deny="Not yet",
            style="danger",
        )
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Roll back now",
                        action_id=ActionId.ROLLBACK_CONFIRM,
                        value=value,
                        style="danger",
                        confirm=confirm,
                    ),
                    ButtonElement(text="Cancel", action_id=ActionId.ROLLBACK_CANCEL, value=""),
                ]
            )
        )
    return title, blocks


def note(text: str) -> ContextBlock:
    """A small line under a message."""
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


# --- the run message in the alert channel, updated as steps finish ----------------------


@dataclass(frozen=True)
class ChecklistState:
    """The manual checklist items of a validation run and who verified which."""

    items: Sequence[str] = ()
    verified: dict[int, tuple[str, datetime]] = field(default_factory=dict)

    @property
    def open_count(self) -> int:
        """Manual items nobody has verified yet."""
        return len(self.items) - len(self.verified)


def step_line(step: StepRecord, now: datetime) -> str:
    """`✅ 2. Restart staging services — 12s` (with the reason when it did not succeed)."""
    line = f"{ICONS[step.status]} {step.index + 1}. {step.title}"
    if step.status == "running" and step.started_at:
        line += f" — running {format_duration((now - step.started_at).total_seconds())}"
    elif step.duration is not None:
        line += f" — {format_duration(step.duration)}"
    if step.status not in ("succeeded", "running", "pending", "skipped") and step.detail:
        line += f" — {step.detail}"
    elif step.status == "skipped":
        line += " — skipped"
    return line


def kind_title(record: RunRecord) -> str:
    """`Rollback`, `Pre-flight checks`, `Validation`, or `Rehearsal`."""
    return "Rehearsal" if record.rehearsal else KIND_TITLES[record.kind]


def result_line(record: RunRecord) -> str:
    """The run's state in words (budget exceeded is said, not only shown)."""
    kind = kind_title(record)
    elapsed = format_duration(record.elapsed or 0)
    budget = format_duration(record.budget)
    failing = next((s for s in record.steps if s.status not in ("succeeded", "skipped", "pending")), None)
    at = f" at step {failing.index + 1} ({failing.title})" if failing else ""
    head = f" HEAD is now `{record.head_after[:12]}`." if record.head_after else ""
    lines = {
        "queued": f"🕒 {kind} queued — waiting for a worker.",
        "running": f"⏳ {kind} running — budget {budget}.",
        "succeeded": f"✅ *{kind} succeeded* in {elapsed} (budget {budget}).{head}",
        "failed": f"❌ *{kind} FAILED*{at} after {elapsed} (budget {budget}).{head}",
        "timed_out": f"⏱️ *{kind} FAILED: a step timed out*{at} after {elapsed} (budget {budget}).{head}",
        "budget_exceeded": f"⏱️ *{kind} FAILED: budget exceeded* — it ran {elapsed} of its {budget} budget "
        f"and was stopped{at}.{head}",
        "cancelled": f"🛑 *{kind} cancelled* by {who(record.cancelled_by or 'someone')} after {elapsed}.{head}",
        "interrupted": f"💥 *{kind} interrupted* — {record.error or 'the worker running it died'}. "
        "Check the repository state before retrying.",
        "refused": f"🚫 *{kind} refused* — {record.error}",
    }
    return lines[record.status]


def run_message(
    record: RunRecord,
    now: datetime,
    next_level: str | None = None,
    checklist: ChecklistState | None = None,
    progress: str | None = None,
) -> tuple[str, list[Block], Metadata]:
    """Text, blocks and metadata of a run's message; the same function renders every update.
    `progress` is the expected finish (and a step past its usual p90) while it runs.
    """
    kind = kind_title(record)
    title = f"{kind}: {record.service} {target(record)}"
    context = [
        f"Requested by {who(record.actor)}"
        + (f", approved by {who(record.approved_by)}" if record.approved_by else ""),
        f"budget {format_duration(record.budget)}",
        f"run `{record.run_id}`",
    ]
    if record.checkpoint_tag and record.kind != "preflight":
        context.insert(2, f"checkpoint `{record.checkpoint_tag}` (`{(record.checkpoint_commit or '')[:12]}`)")
    blocks: list[Block] = [
        HeaderBlock(text=title[:150]),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]),
    ]
    if record.steps:
        lines = "\n".join(step_line(step, now) for step in record.steps)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(lines))))
    if progress:
        blocks.append(note(progress))
    if checklist and checklist.items:
        blocks += _checklist_blocks(record, checklist)
    summary = result_line(record)
    if record.kind == "preflight" and record.status == "succeeded" and record.checkpoint_tag:
        summary += f"\nCheckpoint recorded: `{record.checkpoint_tag}` at `{(record.checkpoint_commit or '')[:12]}`."
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text=clip(summary)))]
    buttons = _run_buttons(record, next_level)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    payload: dict[str, str | bool] = {
        "run_id": record.run_id,
        "phase": record.phase,
        "level": record.level or "",
        "status": record.status,
    }
    if record.rehearsal:
        payload["rehearsal"] = True
    metadata = Metadata(event_type=MetadataType.RUN, event_payload=payload)
    return f"{title} — {summary}", blocks, metadata


def _run_buttons(record: RunRecord, next_level: str | None) -> list[ButtonElement]:
    if record.status in ("queued", "running"):
        confirm = ConfirmObject(
            title="Cancel this run?",
            text="Its running step is killed.",
            confirm="Cancel run",
            deny="Keep running",
            style="danger",
        )
        return [
            ButtonElement(text="Cancel run", action_id=ActionId.ROLLBACK_CANCEL, value=record.run_id, confirm=confirm)
        ]
    if record.kind != "rollback" or record.status == "succeeded" or record.rehearsal:
        return []  # a rehearsal is retried by rehearsing again, never by a real run
    buttons = [ButtonElement(text="Retry", action_id=ActionId.ROLLBACK_RETRY, value=record.run_id)]
    if next_level is not None:
        buttons.append(
            ButtonElement(
                text=f"Escalate to {next_level}",
                action_id=ActionId.ROLLBACK_ESCALATE,
                value=record.run_id,
                style="danger",
            )
        )
    return buttons


def _checklist_blocks(record: RunRecord, checklist: ChecklistState) -> list[Block]:
    commands_open = sum(1 for s in record.steps if s.status != "succeeded")
    still_open = checklist.open_count + commands_open
    blocks: list[Block] = [
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text="*Recovery validation checklist — verify by hand*")),
    ]
    for index, item in enumerate(checklist.items[:20]):
        done = checklist.verified.get(index)
        if done:
            user, at = done
            text = f"☑️ {item}\n_verified by {who(user)} at {at:%H:%M} UTC_"
            blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
        else:
            button = ButtonElement(
                text="Verified", action_id=ActionId.CHECKLIST_VERIFIED, value=f"{record.run_id}|{index}"
            )
            blocks.append(SectionBlock(text=MarkdownTextObject(text=f"◻️ {item}"), accessory=button))
    total = len(checklist.items) + len(record.steps)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"{still_open} of {total} items still open.")]))
    return blocks


def failure_reply(step: StepRecord) -> str:
    """The thread reply for a step that did not succeed: what happened and its output tail."""
    tail = step.output_tail.strip()[-2800:] or "(no output)"
    return f"{ICONS[step.status]} Step {step.index + 1} *{step.title}* {step.status}: {step.detail or ''}\n```{tail}```"


# --- command answers ---------------------------------------------------------------------


def help_text(books: Catalog) -> str:
    """What `/rollback help` and every unknown input answer (with several runbooks, commands name
    the service first)."""
    several = books.several
    service = "<service> " if several else ""
    lines = [
        "*rollbot* — emergency rollbacks from the runbook.",
        f"`/rollback {service}<phase> [<level>] [--dry-run]` — show the plan, then confirm to roll back",
        f"`/rollback {service}<phase> [<level>] --rehearse` — rehearse it on a scratch clone (nothing real changes)",
        "`/rollback status` · `/rollback history` · `/rollback readiness` · `/rollback cancel [run]` · "
        "`/rollback help`",
        f"`/preflight {service}<phase>` — record the checkpoint and run the pre-flight checks",
        f"`/validate {service}[phase]` — the recovery validation checklist",
    ]
    for book in books:
        lines.append(f"*Phases of `{book.service}`*" if several else "*Phases*")
        for name, phase in book.phases.items():
            if phase.analysis_only:
                lines.append(f"• `{name}` — {phase.title} (analysis only)")
            else:
                lines.append(f"• `{name}` — {phase.title}, risk {phase.risk}; levels {level_list(phase)}")
    return "\n".join(lines)


def run_list(records: Sequence[RunRecord], now: datetime, empty: str) -> str:
    """Runs as lines for `status` and `history`."""
    if not records:
        return empty
    lines = []
    for r in records:
        step = r.current_step
        where = f" — step {step.index + 1}/{len(r.steps)} {step.title}" if step else ""
        since = r.started_at or r.created_at
        age = format_duration((now - since).total_seconds()) if r.is_active else format_duration(r.elapsed or 0)
        lines.append(
            f"{ICONS[r.status]} `{r.run_id}` {r.service} {_kind_word(r)} {target(r)} by {who(r.actor)} — {r.status} "
            f"({age}){where}"
        )
    return "\n".join(lines)


def _kind_word(record: RunRecord) -> str:
    return "rehearsal" if record.rehearsal else record.kind


def manual_fallback(plan: Plan) -> str:
    """What to run by hand when rollbot's state store is unreachable."""
    lines = [
        f"⚠️ rollbot cannot reach Redis, so it cannot run or record this {plan.kind}. Run it by hand:",
        f"From the deploy host: `rollbot {'validate' if plan.kind == 'validation' else plan.kind} "
        f"{plan.phase_name}"
        + (f" --level {plan.level_name}" if plan.level_name else "")
        + f"{plan.runbook.service_option}` — or, step by step:",
        "```",
        f"cd {plan.runbook.repo}",
    ]
    if plan.needs_checkpoint and plan.phase.checkpoint:
        prefix = plan.phase.checkpoint
        lines.append(f"TAG=$(git tag --list '{prefix}-*' --sort=-creatordate | head -n 1)  # newest checkpoint")
    for step in plan.steps:
        text = command_text(step, plan).replace("<recorded checkpoint>", "$TAG")
        lines.append(text)
    lines.append("```")
    return clip("\n".join(lines))
