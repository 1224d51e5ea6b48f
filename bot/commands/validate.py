"""`/validate [phase]`: the recovery validation checklist and the phase's validation steps."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, Respond

from bot.commands.preflight import start


def handle(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
    """Parse → authorize → ack → enqueue; the checklist card goes to the alert channel."""
    start(ack, respond, command, "validation", "/validate", phase_required=False)
