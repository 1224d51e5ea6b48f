"""The terminal's live line for the running step: elapsed time, usual duration, budget left.
Redrawn in place on a terminal; one line per step when the output is a file or a pipe.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

import click

from jobs.records.runs import StepRecord
from jobs.runs.eta import Estimate, live_line

REDRAW_SECONDS = 0.5


class LiveLine:
    """A run observer showing the running step (pass it before the printer of finished steps)."""

    def __init__(self, estimate: Estimate, total: int, stream: TextIO | None = None) -> None:
        self.estimate = estimate
        self.total = total
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._run_started = time.monotonic()
        self._current: tuple[StepRecord, float] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, step: StepRecord | None) -> None:
        """Hear a step change: a step that starts gets its line; one that ends clears it."""
        if step is None:
            return
        with self._lock:
            if step.status == "running":
                if self._current is None or self._current[0].index != step.index:
                    self._current = (step, time.monotonic())
                    if self.tty:
                        self._start_redraw()
                    else:
                        click.echo(self._line(), file=self.stream)
            elif self._current is not None and self._current[0].index == step.index:
                self._current = None
                if self.tty:
                    self.stream.write("\r\x1b[2K")
                    self.stream.flush()

    def close(self) -> None:
        """Stop redrawing (the run ended)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _line(self) -> str:
        if self._current is None:
            return ""
        step, began = self._current
        usual = self.estimate.usual[step.index] if step.index < len(self.estimate.usual) else None
        budget_left = self.estimate.budget - (time.monotonic() - self._run_started)
        return live_line(step.index, self.total, step.title, time.monotonic() - began, usual, budget_left)

    def _start_redraw(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._redraw, name="live-line", daemon=True)
        self._thread.start()

    def _redraw(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            with self._lock:
                if self._current is not None:
                    self.stream.write("\r\x1b[2K" + self._line())
                    self.stream.flush()
