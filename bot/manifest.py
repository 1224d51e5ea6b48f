"""`rollbot manifest --url` / `--socket-mode`: the Slack app manifest, with a given public URL or for
Socket Mode (no request URLs: Slack sends everything over the app's WebSocket)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from jobs.core.exceptions import RollbotError

MANIFEST = Path(__file__).resolve().parents[1] / "slack" / "manifest.yaml"
PLACEHOLDER = "https://rollbot.example.com"


def render_manifest(url: str | None, socket_mode: bool = False) -> dict[str, Any]:
    """The manifest with every request URL under `url` (https only; Slack requires it), or, for
    Socket Mode, without request URLs (`url` may then be None)."""
    if url is None and not socket_mode:
        raise RollbotError("Give the public https URL of `rollbot web` (--url), or ask for --socket-mode.")
    text = MANIFEST.read_text(encoding="utf-8")
    if url is not None:
        parsed = urlparse(url)
        if parsed.scheme != "https" or not parsed.netloc:
            raise RollbotError(f"`{url}` is not an https URL; Slack only calls https request URLs.")
        text = text.replace(PLACEHOLDER, url.rstrip("/"))
    manifest: dict[str, Any] = yaml.safe_load(text)
    settings = manifest["settings"]
    settings["socket_mode_enabled"] = socket_mode
    if socket_mode:
        for command in manifest["features"]["slash_commands"]:
            command.pop("url", None)
        settings["event_subscriptions"].pop("request_url", None)
        settings["interactivity"].pop("request_url", None)
    return manifest


def manifest_yaml(url: str | None, socket_mode: bool = False) -> str:
    """`render_manifest` as YAML."""
    return yaml.safe_dump(render_manifest(url, socket_mode), sort_keys=False, allow_unicode=True)
