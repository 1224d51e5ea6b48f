"""Durations as runbooks write them and as people read them (jobs.durations)."""

from __future__ import annotations

import pytest

from jobs.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("10s", 10), ("15m", 900), ("1h", 3600), ("90d", 90 * 86400), ("1.5m", 90), (" 30 m ", 1800), ("45", 45),
     (90, 90), (0.5, 0.5)],
)  # fmt: skip
def test_designed_forms_parse_to_seconds(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["10x", "m", "", "-5s", "1h30m", None, [10], True, False])
def test_anything_else_is_a_value_error_saying_what_is_valid(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [0, "0s", -1, 0.0])
def test_a_duration_must_be_more_than_zero(value: object) -> None:
    with pytest.raises(ValueError, match="must be more than zero"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.4, "0.4s"), (3, "3s"), (9.94, "9.9s"), (10, "10s"), (59.6, "1m"), (90, "1m30s"), (1800, "30m"),
     (3600, "1h"), (3725, "1h2m5s"), (90 * 86400, "2160h")],
)  # fmt: skip
def test_format_is_short(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
