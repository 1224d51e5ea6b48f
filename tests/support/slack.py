"""Talking to `rollbot web` as Slack does (slash commands, button clicks) and reading what rollbot
said through the Slack stand-in (run messages, incident cards, answers to a response_url).
"""

from __future__ import annotations

from typing import Any

import httpx

from jobs.core.ids import ActionId
from tests.conftest import ONCALL, wait_for
from tests.standins.signed import action_body, command_body, signed_post
from tests.standins.slack import Call, SlackStandIn


def slash(web: str, slack: SlackStandIn, command: str, text: str, user: str = ONCALL) -> dict[str, Any]:
    response = signed_post(f"{web}/slack/events", command_body(command, text, user, slack.response_url()))
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def click(web: str, slack: SlackStandIn, action: ActionId, value: str, user: str = ONCALL) -> httpx.Response:
    response = signed_post(f"{web}/slack/events", action_body(action, value, user, slack.response_url()))
    assert response.status_code == 200, response.text
    return response


def channel_posts(slack: SlackStandIn, event_type: str = "rollbot_run") -> list[Call]:
    """Top-level messages of one kind in the alert channel (run messages, by default)."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if "thread_ts" not in c.params and (c.params.get("metadata") or {}).get("event_type") == event_type
    ]


def final_state(slack: SlackStandIn) -> dict[str, Any]:
    """The metadata payload of the last post or update of the run message."""
    last = [c for c in slack.calls if c.status == 200 and c.method in ("chat.postMessage", "chat.update")
            and (c.params.get("metadata") or {}).get("event_type") == "rollbot_run"][-1]  # fmt: skip
    payload: dict[str, Any] = last.params["metadata"]["event_payload"]
    return payload


def replies(slack: SlackStandIn, name: str) -> list[str]:
    """What was said to the `response_url` called `name` (waits for the first answer)."""

    def said() -> list[str]:
        return [c.params["text"] for c in slack.calls_to("response_url") if c.params["url"].endswith(f"/{name}")]

    answers: list[str] = wait_for(said, 10, f"an answer to {name}")
    return answers


def cards(slack: SlackStandIn) -> list[dict[str, object]]:
    """Every post or update of an incident card, oldest first."""
    return [c.params for c in slack.calls if c.method in ("chat.postMessage", "chat.update") and c.status == 200
            and (c.params.get("metadata") or {}).get("event_type") == "rollbot_incident"]  # fmt: skip
