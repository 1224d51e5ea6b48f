"""Signed requests to the real app over HTTP, as Slack sends them (slack_sdk's SignatureVerifier)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret-0123456789"


def signed_post(
    url: str,
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
    client: httpx.Client | None = None,
) -> httpx.Response:
    """POST `body` (form-encoded) with Slack's signature headers."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    all_headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        **(headers or {}),
    }
    if client is not None:
        return client.post(url, content=body.encode(), headers=all_headers, timeout=10)
    return httpx.post(url, content=body.encode(), headers=all_headers, timeout=10)


def command_body(command: str, text: str, user: str, response_url: str, channel: str = "C0ONCALL") -> str:
    """A slash command request body."""
    return urlencode({
        "token": "legacy", "team_id": "T0TEST", "team_domain": "test", "channel_id": channel,
        "channel_name": "oncall", "user_id": user, "user_name": user.lower(), "command": command, "text": text,
        "api_app_id": "A0ROLLBOT", "response_url": response_url, "trigger_id": "1.2.3",
    })  # fmt: skip


def action_body(action_id: str, value: str, user: str, response_url: str, channel: str = "C0ALERTS") -> str:
    """A block_actions request body for one button click."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "api_app_id": "A0ROLLBOT",
        "token": "legacy",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": channel},
        "trigger_id": "1.2.3",
        "team": {"id": "T0TEST", "domain": "test"},
        "channel": {"id": channel, "name": "critical-alerts"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b1", "value": value, "type": "button",
                     "action_ts": str(time.time())}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def button_value(blocks: list[dict[str, Any]], action_id: str) -> str:
    """The value of the button with `action_id` in a message's blocks."""
    for block in blocks:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return str(element.get("value", ""))
    raise AssertionError(f"no {action_id} button in {json.dumps(blocks)[:500]}")


def has_button(blocks: list[dict[str, Any]], action_id: str) -> bool:
    try:
        button_value(blocks, action_id)
    except AssertionError:
        return False
    return True


def event_body(event: dict[str, Any], event_id: str = "Ev0001") -> str:
    """An Events API `event_callback` body (JSON) carrying `event`."""
    return json.dumps({
        "token": "legacy", "team_id": "T0TEST", "api_app_id": "A0ROLLBOT", "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()), "event": event,
    })  # fmt: skip


JSON_HEADERS = {"Content-Type": "application/json"}
