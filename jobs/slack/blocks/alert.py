"""Block Kit for alerts: the alert card and its buttons."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.metadata import Metadata

from jobs.core.ids import ActionId, MetadataType
from jobs.records.alerts import Alert
from jobs.records.checkpoints import Checkpoint
from jobs.slack.blocks.words import clip, shorten, who

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
        SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines)))),
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


BUTTON_TEXT_LIMIT = 75  # Slack's limits for a button's text and its confirm dialog's text
CONFIRM_TEXT_LIMIT = 300


def _alert_buttons(alert: Alert, checkpoint: Checkpoint | None = None) -> list[ButtonElement]:
    if not alert.is_open:
        return []
    buttons = []
    level = alert_rollback_level(alert)
    if level is not None:
        resets = f" Checkpoint: {checkpoint.tag} ({checkpoint.commit[:12]})." if checkpoint else ""
        buttons.append(ButtonElement(
            text=shorten(f"Roll back {alert.phase} {level}", BUTTON_TEXT_LIMIT), action_id=ActionId.ALERT_ROLLBACK,
            style="danger", value=f"{alert.alert_id}|{level}",
            confirm=ConfirmObject(title="Roll back now?", text=shorten(f"Starts rollback {alert.phase} {level} of "
                                  f"{alert.service} at once.{resets}", CONFIRM_TEXT_LIMIT),
                                  confirm="Roll back", deny="Not yet"),
        ))  # fmt: skip
    if alert.state == "firing":
        label = "Keep watching" if alert.kind == "inconclusive" else "Acknowledge"
        buttons.append(ButtonElement(text=label, action_id=ActionId.ALERT_KEEP_WATCHING, value=alert.alert_id))
    if alert.state != "silenced":
        buttons.append(ButtonElement(text=f"Silence {SILENCE_MINUTES} min", action_id=ActionId.ALERT_SILENCE,
                                     value=alert.alert_id))  # fmt: skip
    return buttons
