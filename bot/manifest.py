"""`rollbot manifest --url`: the Slack app manifest with a given public URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from jobs.core.exceptions import RollbotError

MANIFEST = Path(__file__).resolve().parents[1] / "slack" / "manifest.yaml"
PLACEHOLDER = "https://rollbot.example.com"


def render_manifest(url: str, socket_mode: bool = False) -> dict[str, Any]:
    """The manifest with every request URL under `url` (https only; Slack requires it)."""
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.netloc:
        raise RollbotError(f"`{url}` is not an https URL; Slack only calls https request URLs.")
    base = url.rstrip("/")
    text = MANIFEST.read_text(encoding="utf-8").replace(PLACEHOLDER, base)
    manifest: dict[str, Any] = yaml.safe_load(text)
    manifest["settings"]["socket_mode_enabled"] = socket_mode
    return manifest


def manifest_yaml(url: str, socket_mode: bool = False) -> str:
    """`render_manifest` as YAML."""
    return yaml.safe_dump(render_manifest(url, socket_mode), sort_keys=False, allow_unicode=True)
