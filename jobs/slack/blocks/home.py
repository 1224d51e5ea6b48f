"""Block Kit for rollbot's App Home tab: one dashboard section per service (health now, each phase's
checkpoint, the running run with its progress, the last runs, open alerts and incidents) and the
*Roll back…*, *Pre-flight…* and *Refresh* buttons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from jobs.core.durations import format_duration
from jobs.core.ids import ActionId
from jobs.records.alerts import Alert
from jobs.records.checkpoints import Checkpoint
from jobs.records.incidents import Incident
from jobs.records.runs import RunRecord
from jobs.slack.blocks.alert import format_value
from jobs.slack.blocks.runs import step_line
from jobs.slack.blocks.words import ICONS, clip, target, who

MAX_BLOCKS = 100  # Slack's limit for a view


@dataclass
class ServiceHome:
    """What the Home tab shows of one service."""

    service: str
    health: list[str] = field(default_factory=list)  # one line per health source (value vs limits)
    checkpoints: list[tuple[str, Checkpoint | None]] = field(default_factory=list)  # (phase, checkpoint)
    running: list[RunRecord] = field(default_factory=list)
    recent: list[RunRecord] = field(default_factory=list)  # the last five, newest first
    alerts: list[Alert] = field(default_factory=list)  # open ones
    incidents: list[Incident] = field(default_factory=list)  # open ones
    readiness: list[str] = field(default_factory=list)  # one line per rehearsed level (none: not shown)


def _age(now: datetime, then: datetime) -> str:
    return format_duration(max(0.0, (now - then).total_seconds()))


def progress_line(run: RunRecord, now: datetime) -> str:
    """`⏳ rb-… rollback phase2 immediate by @x — step 2/3: ⏳ 2. Restart — running 12s`."""
    step = run.current_step
    where = f" — step {step.index + 1}/{len(run.steps)}: {step_line(step, now)}" if step else ""
    since = run.started_at or run.created_at
    return f"{ICONS[run.status]} `{run.run_id}` {run.kind} {target(run)} by {who(run.actor)} — {run.status} " \
           f"for {_age(now, since)}{where}"  # fmt: skip


def _run_line(run: RunRecord, now: datetime) -> str:
    took = format_duration(run.elapsed) if run.elapsed is not None else _age(now, run.created_at)
    return f"{ICONS.get(run.status, '•')} `{run.run_id}` {run.kind} {target(run)} by {who(run.actor)} — " \
           f"{run.status} ({took}, {_age(now, run.created_at)} ago)"  # fmt: skip


def _alert_line(alert: Alert, now: datetime) -> str:
    threshold = f" (limit {alert.threshold})" if alert.threshold else ""
    return f"🚨 *{alert.metric}* at {format_value(alert.value)}{threshold} — {alert.state} since " \
           f"{_age(now, alert.first_seen)}" + (f" · run `{alert.run_id}`" if alert.run_id else "")  # fmt: skip


def _incident_line(incident: Incident, now: datetime) -> str:
    link = f"<{incident.pd_url}|{incident.title}>" if incident.pd_url else incident.title
    return f"📟 {link} — {incident.status} for {_age(now, incident.opened_at)}"


def _section(title: str, lines: Sequence[str], empty: str) -> SectionBlock:
    body = "\n".join(lines) if lines else f"_{empty}_"
    return SectionBlock(text=MarkdownTextObject(text=clip(f"*{title}*\n{body}")))


def service_blocks(home: ServiceHome, now: datetime) -> list[Block]:
    """One service's part of the dashboard."""
    checkpoints = [f"• {phase}: `{cp.tag}` at `{cp.commit[:12]}`, {_age(now, cp.taken_at)} old" if cp
                   else f"• {phase}: none — run `/preflight {phase}` before the change"
                   for phase, cp in home.checkpoints]  # fmt: skip
    return [
        HeaderBlock(text=f"🛟 {home.service}"[:150]),
        _section("Health now", home.health, "no health source in the runbook, or not measured yet"),
        _section("Checkpoints", checkpoints, "no phase with a checkpoint"),
        _section("Running", [progress_line(r, now) for r in home.running], "nothing is running"),
        _section("Last runs", [_run_line(r, now) for r in home.recent], "no runs yet"),
        _section("Open alerts", [_alert_line(a, now) for a in home.alerts], "none"),
        _section("Open incidents", [_incident_line(i, now) for i in home.incidents], "none"),
        *([_section("Readiness", home.readiness, "")] if home.readiness else []),
        ActionsBlock(block_id=f"home-{home.service}"[:255], elements=[
            ButtonElement(text="Roll back…", action_id=ActionId.HOME_ROLLBACK.value, value=home.service,
                          style="danger"),
            ButtonElement(text="Pre-flight…", action_id=ActionId.HOME_PREFLIGHT.value, value=home.service),
        ]),
        DividerBlock(),
    ]  # fmt: skip


def home_view(homes: Sequence[ServiceHome], now: datetime) -> View:
    """The App Home tab (`views.publish`); services beyond Slack's 100 blocks are named, not shown."""
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text="*rollbot* — emergency rollbacks from the runbook."),
                     accessory=ButtonElement(text="Refresh", action_id=ActionId.HOME_REFRESH.value, value="refresh")),
        ContextBlock(elements=[MarkdownTextObject(text=f"Updated {now:%Y-%m-%d %H:%M:%S} UTC")]),
        DividerBlock(),
    ]  # fmt: skip
    left: list[str] = []
    for home in homes:
        part = service_blocks(home, now)
        if len(blocks) + len(part) > MAX_BLOCKS - 1:
            left.append(home.service)
            continue
        blocks += part
    if left:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(f"Not shown: {', '.join(left)}", 1900))]))
    if not homes:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="No runbook is loaded.")))
    return View(type="home", blocks=blocks)
