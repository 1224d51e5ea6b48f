"""The report's "Success metrics" (jobs.report.metrics) from hand-made data: each measure against
the manual's target, with its verdict; the outage window from the golden-path measurements.
"""

from __future__ import annotations

from jobs.report import render
from jobs.report.metrics import Series, outage_seconds, success_metrics
from jobs.report.render import _recovery_window
from tests.unit.builders import runbook
from tests.unit.report_builders import at, family, section


def series(*values: float) -> Series:
    """success_rate measured every 30 s from T0 - 60 s, alert below 0.95, rollback below 0.9."""
    points = [(at(-60 + 30 * i), v) for i, v in enumerate(values)]
    return Series(source="golden_path", metric="success_rate", label="Golden path", points=points,
                  alert_limit=0.95, rollback_limit=0.90, marks={"breach": at(-120), "recovery": at(181)})  # fmt: skip


def test_outage_window_counts_each_breached_measurement_until_the_next() -> None:
    assert outage_seconds(series(0.99, 0.80, 0.85, 0.99, 0.99)) == 60.0
    assert outage_seconds(series(0.99, 0.99)) == 0.0
    assert outage_seconds(series()) is None
    above = Series(source="s", metric="p99", label="p99", points=[(at(0), 3.0), (at(10), 1.0)], alert_limit=2.0,
                   below=False)  # fmt: skip
    assert outage_seconds(above) == 10.0


def test_success_metrics_give_each_measure_its_target_and_verdict() -> None:
    data = family()
    text = success_metrics(data, runbook(), series(0.99, 0.80, 0.99), _recovery_window(data), 3600.0)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Measure")]
    assert rows[0].startswith("| Recovery time | 5m1s | < 1h | ✅ within the 1h target")
    assert rows[1].startswith("| First human acknowledgment (PagerDuty or a card click) | 50s (U0ACK) | < 30m | ✅")
    assert rows[2].startswith("| Team aligned (1 technical contact roles acknowledged or joined) | 50s | < 30m | ✅")
    assert rows[3] == ("| Outage window (Golden path beyond its limit) | 30s | ≤ 5m without customer communication "
                       "| ✅ within the 5m limit (status page required above it) |")  # fmt: skip
    assert "Golden path: 3 measurements of Golden path" in text


def test_an_unacknowledged_slow_incident_is_judged_over_its_targets() -> None:
    data = family(audit=[], runs=[family().runs[0]])
    text = success_metrics(data, runbook(), series(*[0.5] * 12), _recovery_window(data), 3600.0)
    assert "| First human acknowledgment (PagerDuty or a card click) | none | < 30m | not yet |" in text
    assert "| Team aligned (1 technical contact roles acknowledged or joined) | not yet (0 of 1) |" in text
    assert "❌ over the 5m limit (status page required above it) by 30s" in text


def test_the_rendered_report_carries_the_section_after_recovery_time() -> None:
    report = render(family(), runbook(), series(0.99, 0.80, 0.99))
    assert report.index("## Recovery time") < report.index("## Success metrics") < report.index("## Budget compliance")
    assert section(report, "Success metrics")[0] == "| Measure | Value | Target | Verdict |"
    assert "no measurements" in render(family(), runbook())  # no series: said, not invented
