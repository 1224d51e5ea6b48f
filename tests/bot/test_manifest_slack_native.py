"""`rollbot manifest`: the Home tab, the message shortcut, interactivity for modals and the scopes
they need, for request URLs and for Socket Mode."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from bot.manifest import render_manifest
from jobs.core.exceptions import RollbotError
from tests.conftest import ROLLBOT


@pytest.mark.parametrize("socket_mode", [False, True])
def test_the_manifest_declares_home_shortcut_modals_and_their_scopes(socket_mode: bool) -> None:
    manifest = render_manifest("https://rollbot.acme.dev", socket_mode=socket_mode)
    features, settings = manifest["features"], manifest["settings"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["shortcuts"] == [{"name": "Roll back from this message", "type": "message",
                                      "callback_id": "rollback_from_message",
                                      "description": features["shortcuts"][0]["description"]}]  # fmt: skip
    assert len(features["shortcuts"][0]["description"]) <= 150
    assert all(len(c["description"]) <= 100 for c in features["slash_commands"])
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert settings["interactivity"]["is_enabled"] is True
    assert {"commands", "chat:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])  # shortcuts need `commands`
    assert settings["socket_mode_enabled"] is socket_mode
    urls = [settings["interactivity"].get("request_url"), settings["event_subscriptions"].get("request_url"),
            *(c.get("url") for c in features["slash_commands"])]  # fmt: skip
    assert urls == [None] * len(urls) if socket_mode else set(urls) == {"https://rollbot.acme.dev/slack/events"}


def test_socket_mode_needs_no_url_and_http_needs_one() -> None:
    done = subprocess.run([ROLLBOT, "manifest", "--socket-mode"], capture_output=True, text=True, timeout=30,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["settings"]["socket_mode_enabled"] is True
    with pytest.raises(RollbotError, match="--url"):
        render_manifest(None)
