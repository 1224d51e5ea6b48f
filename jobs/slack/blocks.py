"""Block Kit builders (slack_sdk models) for every message rollbot posts. No Slack calls here."""

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
from jobs.records.alerts import Alert
from jobs.records.approvals import Approval
from jobs.records.checkpoints import Checkpoint
from jobs.records.incidents import Incident
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.catalog import Catalog
from jobs.runbook.model import Contacts, Escalation
from jobs.runs.plan import Plan, command_text, level_list, step_title

SECTION_LIMIT = 2900  # Slack's section text limit is 3000 characters
ICONS = {
    "pending": "◻️",
    "running": "⏳",
    "succeeded": "✅",
    "failed": "❌",
    "timed_out": "⏱️",
    "budget_exceeded": "⏱️",
    "cancelled": "🛑",
    "interrupted": "💥",
    "skipped": "⏭",
    "queued": "🕒",
    "refused": "🚫",
}
KIND_TITLES = {"rollback": "Rollback", "preflight": "Pre-flight checks", "validation": "Validation"}
RESULT_WORDS = {
    "succeeded": "succeeded", "failed": "FAILED", "timed_out": "FAILED: a step timed out",
    "budget_exceeded": "FAILED: budget exceeded", "cancelled": "cancelled", "interrupted": "interrupted",
    "refused": "REFUSED", "queued": "queued", "running": "running",
}  # fmt: skip


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n… (truncated)"


def who(actor: str) -> str:
    """A Slack mention for Slack user IDs, the actor as written otherwise (`cli:alice`, `automation`)."""
    return f"<@{actor}>" if actor[:1] in ("U", "W") and actor.isalnum() else f"`{actor}`"


def target(record_or_plan: RunRecord | Plan) -> str:
    """`phase2 immediate` / `phase2`."""
    if isinstance(record_or_plan, Plan):
        phase, level = record_or_plan.phase_name, record_or_plan.level_name
    else:
        phase, level = record_or_plan.phase, record_or_plan.level
    return f"{phase} {level}" if level else phase


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
        f"{i}. *{step_title(step)}*\n      `{command_text(step, plan)}`"
        + (f" (timeout {format_duration(step.timeout)})" if step.timeout else "")
        for i, step in enumerate(plan.steps, 1)
    )
    blocks: list[Block] = [
        HeaderBlock(text=title[:150]),
        SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields]),
        SectionBlock(text=MarkdownTextObject(text=_clip(f"*Steps*\n{steps}"))),
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


def result_line(record: RunRecord) -> str:
    """The run's state in words (budget exceeded is said, not only shown)."""
    kind = KIND_TITLES[record.kind]
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
    record: RunRecord, now: datetime, next_level: str | None = None, checklist: ChecklistState | None = None
) -> tuple[str, list[Block], Metadata]:
    """Text, blocks and metadata of a run's message; the same function renders every update."""
    kind = KIND_TITLES[record.kind]
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
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(lines))))
    if checklist and checklist.items:
        blocks += _checklist_blocks(record, checklist)
    summary = result_line(record)
    if record.kind == "preflight" and record.status == "succeeded" and record.checkpoint_tag:
        summary += f"\nCheckpoint recorded: `{record.checkpoint_tag}` at `{(record.checkpoint_commit or '')[:12]}`."
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text=_clip(summary)))]
    buttons = _run_buttons(record, next_level)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    metadata = Metadata(
        event_type=MetadataType.RUN,
        event_payload={
            "run_id": record.run_id,
            "phase": record.phase,
            "level": record.level or "",
            "status": record.status,
        },
    )
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
    if record.kind != "rollback" or record.status == "succeeded":
        return []
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
        "`/rollback status` · `/rollback history` · `/rollback cancel [run]` · `/rollback help`",
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
            f"{ICONS[r.status]} `{r.run_id}` {r.service} {r.kind} {target(r)} by {who(r.actor)} — {r.status} "
            f"({age}){where}"
        )
    return "\n".join(lines)


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
    return _clip("\n".join(lines))


# --- PagerDuty incidents ---------------------------------------------------------------------


def incident_card(incident: Incident, policy: Escalation | None) -> tuple[str, list[Block], Metadata]:
    """The incident's card in the alert channel: who owns it now, and what to do."""
    status_line = {
        "pending": "⏳ Paging PagerDuty…",
        "triggered": "🔔 Paged — *nobody has acknowledged it yet*",
        "acknowledged": f"👤 Acknowledged by {incident.acknowledged_by or 'someone'}",
        "resolved": f"✅ Resolved{' by ' + incident.resolved_by if incident.resolved_by else ''}",
    }[incident.status]
    if incident.phone_escalation_posted and incident.paged_at is None:
        status_line += " — *PagerDuty could not be paged yet: escalate by phone*"
    context = [f"opened {incident.opened_at:%H:%M} UTC"]
    if incident.run_id:
        context.append(f"run `{incident.run_id}`")
    if incident.pd_url:
        context.append(f"<{incident.pd_url}|PagerDuty incident>")
    if incident.assignees:
        context.append("assigned to " + ", ".join(incident.assignees))
    if incident.stakeholders_notified_at:
        context.append(f"stakeholders notified by {who(incident.stakeholders_notified_by or '?')} at "
                       f"{incident.stakeholders_notified_at:%H:%M} UTC")  # fmt: skip
    elif incident.is_open and policy is not None:
        due = incident.opened_at.timestamp() + policy.stakeholders_within
        context.append(f"stakeholders not notified yet (due <!date^{int(due)}^{{time}}|in "
                       f"{format_duration(policy.stakeholders_within)}>)")  # fmt: skip
    title = f"PagerDuty incident: {incident.title}"
    card: list[Block] = [
        HeaderBlock(text=("🚨 " if incident.is_open else "✅ ") + "Incident"),
        SectionBlock(text=MarkdownTextObject(text=_clip(f"*{incident.title}*\n{status_line}"))),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]),
    ]
    buttons = []
    if incident.is_open and incident.status != "acknowledged":
        buttons.append(ButtonElement(text="Acknowledge", action_id=ActionId.PD_ACKNOWLEDGE, value=incident.key,
                                     style="primary"))  # fmt: skip
    if incident.is_open:
        buttons.append(ButtonElement(text="Resolve", action_id=ActionId.PD_RESOLVE, value=incident.key))
    if incident.is_open and incident.stakeholders_notified_at is None:
        buttons.append(ButtonElement(text="Stakeholders notified", action_id=ActionId.STAKEHOLDERS_NOTIFIED,
                                     value=incident.key))  # fmt: skip
    if buttons:
        card.append(ActionsBlock(elements=buttons))
    metadata = Metadata(event_type=MetadataType.INCIDENT,
                        event_payload={"incident_key": incident.key, "run_id": incident.run_id or "",
                                       "status": incident.status})  # fmt: skip
    return f"{title} — {status_line}", card, metadata


def phone_escalation(incident: Incident, reason: str, contacts: Sequence[str]) -> str:
    """What the channel reads while a page cannot be delivered."""
    people = "\n".join(f"• {c}" for c in contacts) or "• (no technical contacts in the runbook)"
    return (f"📞 *Could not page PagerDuty — escalate by phone:*\n{people}\n"
            f"Incident: {incident.title}. Why: {reason}. rollbot keeps trying and will say here when the "
            "page goes through.")  # fmt: skip


def delivered_late(first_failure: datetime, now: datetime, failed_attempts: int) -> str:
    """The note once a page that could not be delivered finally was."""
    late = format_duration((now - first_failure).total_seconds())
    return (f"✅ PagerDuty paged after all — delivered late, {late} after the first attempt "
            f"({failed_attempts} failed attempt{'s' if failed_attempts != 1 else ''}).")  # fmt: skip


def stakeholder_reminder(incident: Incident, contacts: Contacts, policy: Escalation, now: datetime) -> str:
    """The business notification reminder (the manual: alert stakeholders within 15 minutes)."""
    open_for = format_duration((now - incident.opened_at).total_seconds())
    lines = [
        f"⏰ *Business stakeholders have not been notified* — {open_for} since the incident opened "
        f"({incident.title}). The manual wants them told within {format_duration(policy.stakeholders_within)}:"
    ]
    lines += [f"• {c}" for c in contacts.business]
    if contacts.executive:
        lines.append(
            f"Customer-facing and over {format_duration(policy.executive_after)}: " + "; ".join(contacts.executive)
        )
    if contacts.customer:
        lines.append(
            f"Customer communication for outages over {format_duration(policy.status_page_after)}: "
            + "; ".join(contacts.customer)
        )
    lines.append("Click *Stakeholders notified* on the incident card once done.")
    return "\n".join(lines)  # fmt: skip


# --- alerts ----------------------------------------------------------------------------------

ALERT_HEADERS = {
    "breach": "🚨 Health breach",
    "inconclusive": "🤔 Health inconclusive: roll back or keep watching?",
    "blind": "🙈 Monitor blind",
}
SILENCE_MINUTES = 30


def format_value(value: float | None) -> str:
    """A metric value for people: four significant digits."""
    return "?" if value is None else f"{value:.4g}"


def alert_card(alert: Alert, now: datetime, checkpoint: Checkpoint | None = None) -> tuple[str, list[Block], Metadata]:
    """An alert's card: metric, value, threshold, trend, since when, what rollbot did, and buttons.
    `checkpoint`: the phase's, shown with the *Roll back* button (a click is refused if it moves).
    """
    header = ALERT_HEADERS[alert.kind] if alert.is_open else "✅ Recovered"
    state_line = {
        "firing": "",
        "acknowledged": f"👤 Acknowledged by {who(alert.acknowledged_by or '?')}: keep watching",
        "silenced": f"🔕 Silenced by {who(alert.silenced_by or '?')}"
        + (f" until {alert.silenced_until:%H:%M} UTC" if alert.silenced_until else ""),
        "resolved": f"✅ Resolved{f': {alert.resolution}' if alert.resolution else ''}",
    }[alert.state]
    trend = " → ".join(format_value(v) for v in alert.trend) or format_value(alert.value)
    lines = [
        f"*{alert.metric}* at *{format_value(alert.value)}*"
        + (f" (threshold {alert.threshold})" if alert.threshold else "")
        + f" — `{alert.service}`",
        f"Trend: {trend}",
    ]
    if alert.detail:
        lines.append(f"_{alert.detail}_")
    if alert.decision:
        lines.append(alert.decision)
    if state_line:
        lines.append(state_line)
    seen = f"seen {alert.count} times" if alert.count > 1 else "seen once"
    context = [f"since {alert.first_seen:%H:%M:%S} UTC", f"last {alert.last_seen:%H:%M:%S} UTC", seen,
               f"{alert.origin} `{alert.source}`"]  # fmt: skip
    if alert.posted_by:
        context.append(f"posted by {who(alert.posted_by)}")
    if alert.dry_run:
        context.append("dry run")
    card: list[Block] = [
        HeaderBlock(text=header),
        SectionBlock(text=MarkdownTextObject(text=_clip("\n".join(lines)))),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]),
    ]
    buttons = _alert_buttons(alert, checkpoint)
    if buttons:
        card.append(ActionsBlock(elements=buttons))
    if checkpoint is not None and alert.is_open and alert_rollback_level(alert) is not None:
        shown = f"Roll back resets to checkpoint `{checkpoint.tag}` (`{checkpoint.commit[:12]}`)"
        card.append(ContextBlock(elements=[MarkdownTextObject(text=shown)]))
    payload = {"alert_id": alert.alert_id, "metric": alert.metric, "state": alert.state}
    metadata = Metadata(event_type=MetadataType.ALERT, event_payload=payload)
    text = f"{header}: {alert.metric} at {format_value(alert.value)} ({alert.service}) — {alert.state}"
    return text, card, metadata


def alert_rollback_level(alert: Alert) -> str | None:
    """The level the card's *Roll back* button offers now (the next one once a rollback did not help)."""
    if alert.phase is None or alert.kind == "blind":
        return None
    if alert.run_id and alert.run_status in ("queued", "running"):
        return None
    if alert.run_id:
        return alert.next_level
    return alert.level


def _alert_buttons(alert: Alert, checkpoint: Checkpoint | None = None) -> list[ButtonElement]:
    if not alert.is_open:
        return []
    buttons = []
    level = alert_rollback_level(alert)
    if level is not None:
        resets = f" Checkpoint: {checkpoint.tag} ({checkpoint.commit[:12]})." if checkpoint else ""
        buttons.append(ButtonElement(
            text=f"Roll back {alert.phase} {level}", action_id=ActionId.ALERT_ROLLBACK, style="danger",
            value=f"{alert.alert_id}|{level}",
            confirm=ConfirmObject(title="Roll back now?", text=f"Starts rollback {alert.phase} {level} of "
                                  f"{alert.service} at once.{resets}", confirm="Roll back", deny="Not yet"),
        ))  # fmt: skip
    if alert.state == "firing":
        label = "Keep watching" if alert.kind == "inconclusive" else "Acknowledge"
        buttons.append(ButtonElement(text=label, action_id=ActionId.ALERT_KEEP_WATCHING, value=alert.alert_id))
    if alert.state != "silenced":
        buttons.append(ButtonElement(text=f"Silence {SILENCE_MINUTES} min", action_id=ActionId.ALERT_SILENCE,
                                     value=alert.alert_id))  # fmt: skip
    return buttons


# --- two-person approvals ---------------------------------------------------------------------

APPROVAL_STATE_LINES = {
    "pending": "⏳ Waiting for a second person with the `{role}` role (the requester cannot approve their own).",
    "approved": "✅ Approved by {decided}: run `{run_id}` started.",
    "rejected": "🚫 Rejected by {decided}; nothing was started.",
    "expired": "⌛ Expired unapproved; nothing was started.",
}


def approval_card(approval: Approval, role: str, budget: float | None) -> tuple[str, list[Block], Metadata]:
    """The approval card: who asks for which level, until when, and Approve / Reject while pending."""
    what = f"rollback {approval.phase} {approval.level} of `{approval.service}`"
    state = APPROVAL_STATE_LINES[approval.state].format(
        role=role, decided=who(approval.decided_by or "?"), run_id=approval.run_id
    )
    lines = [f"{who(approval.requested_by)} asks to run *{what}* (two-person rule).", state]
    context = [f"run `{approval.run_id}`", f"requested {approval.requested_at:%H:%M} UTC"]
    if approval.state == "pending":
        context.append(
            f"expires <!date^{int(approval.expires_at.timestamp())}^{{time}}|{approval.expires_at:%H:%M} UTC>"
        )
    if budget is not None:
        context.append(f"budget {format_duration(budget)}")
    if approval.checkpoint_tag:
        context.append(f"resets to `{approval.checkpoint_tag}`")
    card: list[Block] = [
        HeaderBlock(text=f"✋ Approval needed: {approval.phase} {approval.level}"),
        SectionBlock(text=MarkdownTextObject(text=_clip("\n".join(lines)))),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]),
    ]
    if approval.state == "pending":
        card.append(ActionsBlock(elements=[
            ButtonElement(text="Approve", action_id=ActionId.APPROVAL_APPROVE, value=approval.run_id, style="danger",
                          confirm=ConfirmObject(title="Approve and start?", text=f"Starts {what} at once.",
                                                confirm="Approve", deny="Not yet")),
            ButtonElement(text="Reject", action_id=ActionId.APPROVAL_REJECT, value=approval.run_id),
        ]))  # fmt: skip
    payload = {"run_id": approval.run_id, "requested_by": approval.requested_by, "state": approval.state}
    metadata = Metadata(event_type=MetadataType.APPROVAL, event_payload=payload)
    return f"Approval {approval.state}: {what}, requested by {approval.requested_by}", card, metadata


def approval_requested(approval: Approval, channel: str) -> str:
    """What the requester reads after confirming a level that needs two approvals."""
    return (f"✋ Approval requested for {approval.phase} {approval.level} (run `{approval.run_id}`): a second "
            f"person with the approver role must approve it on the card in {channel} before "
            f"{approval.expires_at:%H:%M} UTC. Your confirm counts as the first approval.")  # fmt: skip
