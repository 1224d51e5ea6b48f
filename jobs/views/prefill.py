"""The message shortcut *Roll back from this message*: which service, phase and level the message
points at — one of rollbot's alert cards (its alert), or a message an alert rule matches (the
rule's phase and level), else the monitor's `on_breach` of the rule's health source."""

from __future__ import annotations

from typing import Any

from jobs.alerts.rules import match_message
from jobs.context import Context
from jobs.core.ids import MetadataType
from jobs.runbook.catalog import Catalog
from jobs.slack.blocks.modal import ModalState

NO_MATCH = ("This message matches no alert rule or monitor of the runbook: choose the service, phase "
            "and level yourself.")  # fmt: skip


def _from_card(ctx: Context, message: dict[str, Any]) -> ModalState | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != MetadataType.ALERT.value:
        return None
    alert_id = str((metadata.get("event_payload") or {}).get("alert_id") or "")
    alert = ctx.alerts.get(alert_id) if alert_id else None
    if alert is None:
        return None
    return ModalState(service=alert.service, phase=alert.phase, level=alert.next_level or alert.level,
                      note=f"Pre-filled from alert `{alert.alert_id}` ({alert.metric}).")  # fmt: skip


def from_message(ctx: Context, books: Catalog, message: dict[str, Any]) -> ModalState:
    """The modal's selection for `message` (a message shortcut's payload), with a note saying
    where it came from; empty with a note when nothing matches."""
    card = _from_card(ctx, message)
    if card is not None:
        return card
    for book in books:
        found = match_message(book, message, builtin=not books.several)
        if found is None:
            continue
        rule = found.rule
        phase, level = rule.phase, rule.level
        source = book.health.get(rule.metric.split(".", 1)[0])
        if phase is None and source is not None and source.on_breach is not None:
            phase, level = source.on_breach.phase, source.on_breach.level
        return ModalState(service=book.service, phase=phase, level=level,
                          note=f"Pre-filled from the alert rule `{rule.name}` this message matches.")  # fmt: skip
    return ModalState(note=NO_MATCH)
