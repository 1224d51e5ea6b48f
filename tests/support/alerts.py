"""Alerts as they reach rollbot: an alert line, a suggesting health check, message events posted to
`rollbot web`, and the alert cards rollbot posts in answer.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.standins.signed import JSON_HEADERS, event_body, signed_post
from tests.standins.slack import SlackStandIn

MANUAL_LINE = "CRITICAL: Golden Path health at 0.87% - Triggering rollback"


SUGGESTING_HEALTH = """\
health:
  golden_path:
    url: http://127.0.0.1:9/health
    interval: 1h
    metrics:
      success_rate: {alert_below: 0.95, rollback_below: 0.90}
    on_breach: {phase: phase2, level: immediate, mode: suggest}
"""


def message(text: str, **fields: Any) -> dict[str, Any]:
    """A message event in the alert channel, posted by an integration unless `fields` say otherwise."""
    return {"type": "message", "subtype": "bot_message", "bot_id": "B0DATADOG", "username": "golden-path-monitor",
            "channel": "C0ALERTS", "text": text, "ts": f"{time.time():.6f}"} | fields  # fmt: skip


def post_event(web: str, event: dict[str, Any], event_id: str, client: httpx.Client | None = None) -> None:
    response = signed_post(f"{web}/slack/events", event_body(event, event_id), headers=JSON_HEADERS, client=client)
    assert response.status_code == 200, response.text


def alert_cards(slack: SlackStandIn, method: str) -> list[dict[str, Any]]:
    return [c.params for c in slack.calls_to(method)
            if (c.params.get("metadata") or {}).get("event_type") == "rollbot_alert"]  # fmt: skip
