"""The report's picture: the golden-path metric over the incident (every measurement the monitor
took), its alert and rollback limits, and the breach, rollback start and end and recovery marked.
A PNG drawn with matplotlib's Agg backend, imported here only, when a report is made.
"""

from __future__ import annotations

import io
import logging

from jobs.context import Context
from jobs.report.gather import gather
from jobs.report.metrics import Series, golden_path
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

MARK_COLORS = {"breach": "tab:red", "rollback start": "tab:orange", "rollback end": "tab:purple",
               "recovery": "tab:green"}  # fmt: skip


def draw(series: Series, title: str) -> bytes:
    """The chart of `series` as PNG bytes."""
    import matplotlib  # noqa: PLC0415 - only where a report is made: workers that never make one never load it

    matplotlib.use("Agg")
    from matplotlib import dates as mdates  # noqa: PLC0415
    from matplotlib import pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        if series.points:
            times, values = zip(*series.points, strict=True)
            axes.plot(times, values, marker="o", markersize=3, linewidth=1.5, color="tab:blue", label=series.label)
            breached = [(t, v) for t, v in series.points if series.breached(v)]
            if breached:
                bt, bv = zip(*breached, strict=True)
                axes.scatter(bt, bv, color="tab:red", s=18, zorder=3, label="beyond the alert limit")
        else:
            axes.text(0.5, 0.5, "no measurements in this window", transform=axes.transAxes, ha="center")
        for limit, style, name in ((series.alert_limit, "--", "alert limit"),
                                   (series.rollback_limit, ":", "rollback limit")):  # fmt: skip
            if limit is not None:
                axes.axhline(limit, linestyle=style, color="tab:gray", linewidth=1, label=f"{name} ({limit:g})")
        for name, at in sorted(series.marks.items(), key=lambda m: m[1]):
            x = float(mdates.date2num(at))  # type: ignore[no-untyped-call]
            axes.axvline(
                x,
                color=MARK_COLORS.get(name, "black"),
                linewidth=1.2,
                alpha=0.8,
                label=f"{name} {at:%H:%M:%S}",
            )
        axes.set_title(title)
        axes.set_xlabel("time (UTC)")
        axes.set_ylabel(series.label)
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
        axes.grid(True, alpha=0.3)
        axes.legend(loc="best", fontsize="small")
        figure.autofmt_xdate()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def build_chart(ctx: Context, run_id: str, runbook: Runbook | None) -> bytes | None:
    """The chart of rollback `run_id`'s incident as PNG bytes; None when there is nothing to draw
    (no health source in the runbook, or no measurement in the incident's window).
    """
    data = gather(ctx, run_id)
    series = golden_path(ctx, data, runbook)
    if series is None or not series.points:
        return None
    first = data.runs[0]
    return draw(series, f"{first.service}: {series.label} during {first.run_id}")
