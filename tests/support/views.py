"""Views as Slack receives them: every modal and Home view checked with slack_sdk's `View` model."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

LIMITS = {"modal": 100, "home": 100}


def valid_view(view: View | dict[str, Any]) -> dict[str, Any]:
    """The view as Slack receives it, after checking it parses back with slack_sdk's `View` model
    into the same JSON, passes its validation, and each block passes its own. Returns its dict."""
    raw = view.to_dict() if isinstance(view, View) else view
    raw = {k: v for k, v in raw.items() if k not in ("id", "hash")}  # a stand-in's answer adds these
    json.dumps(raw)
    parsed = View(**raw)
    parsed.validate_json()
    assert parsed.to_dict() == raw, raw
    assert raw["type"] in LIMITS and len(raw["blocks"]) <= LIMITS[raw["type"]]
    for block in Block.parse_all(raw["blocks"]):
        block.validate_json()
    if raw["type"] == "modal":
        assert len(raw["title"]["text"]) <= 24 and len(raw.get("private_metadata", "")) <= 3000
    return raw
