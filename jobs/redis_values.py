"""Values read from Redis: the client shared with RQ returns bytes (RQ needs decode_responses off)."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str:
    """A Redis reply as `str`."""
    return value.decode() if isinstance(value, bytes) else str(value)


def optional_text(value: Any) -> str | None:
    """A Redis reply as `str`, None staying None."""
    return None if value is None else text(value)
