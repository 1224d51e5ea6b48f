"""The one way a listener answers the person who asked: ephemerally, seen by nobody else.

A slash command is answered in its acknowledgement (`answer`, which is the ack); anything said
after the ack, and every answer to a click, goes through the request's response_url (`reply`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk.models.blocks import Block


def answer(ack: Ack, text: str, blocks: Sequence[dict[str, Any] | Block] | None = None) -> None:
    """Acknowledge a slash command with an ephemeral answer (the HTTP response itself, so nothing
    slow may come before it)."""
    ack(response_type="ephemeral", text=text, blocks=blocks)


def reply(respond: Respond, text: str, *, replace: bool = False) -> None:
    """Answer ephemerally through the response_url, after the ack. `replace`: instead of the
    ephemeral message clicked (the plan with its buttons), not below it."""
    respond(text=text, replace_original=replace, response_type="ephemeral")
