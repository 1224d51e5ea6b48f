"""The terminal's live line: redrawn in place on a terminal, one line per step otherwise."""

from __future__ import annotations

import io
import time

from bot.live import LiveLine
from jobs.records.history import Usual
from jobs.runs.eta import Estimate
from tests.unit.builders import T0, step


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_line_per_step_when_not_a_terminal() -> None:
    out = io.StringIO()
    live = LiveLine(Estimate([None, Usual(2.0, 3.0, 4)], 900.0), 2, out)
    live(step(0, "running", started_at=T0))
    live(step(0, "running", started_at=T0))  # the same step again: no second line
    live(step(0))
    live(step(1, "running", started_at=T0))
    live.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("▶ [1/2] ") and "no history yet · budget left 15m" in lines[0]
    assert "usually 2s (p90 3s, 4 runs)" in lines[1]


def test_redrawn_in_place_on_a_terminal() -> None:
    out = Terminal()
    live = LiveLine(Estimate([Usual(2.0, 3.0, 4)], 900.0), 1, out)
    live(step(0, "running", started_at=T0))
    time.sleep(1.2)  # at least one redraw (every 0.5 s)
    live(step(0))
    live.close()
    text = out.getvalue()
    assert "\r\x1b[2K▶ [1/1] " in text and "\n" not in text
    assert text.endswith("\r\x1b[2K")  # the line is cleared when the step ends
