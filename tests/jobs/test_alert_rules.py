"""Alert rules, health limits and their validation (pure: no Redis, no HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.alerts.monitor import classify
from jobs.alerts.rules import BUILTIN_RULE_NAME, match_message
from jobs.core.exceptions import RunbookError
from jobs.runbook.loader import load_runbook, parse_runbook
from jobs.runbook.model import Threshold

DEFAULT = Path(__file__).resolve().parents[2] / "runbooks" / "ssot-tool-dispatcher.yaml"
BASE = """\
version: 1
service: svc
repo: .
alert_channel: "#a"
phases:
  phase2:
    title: T
    risk: medium
    levels:
      immediate: {budget: 30m, steps: [{run: ["true"]}]}
"""


def parse(extra: str) -> Any:
    return parse_runbook(BASE + extra, "test.yaml", Path("/tmp"))


def problems_of(extra: str) -> dict[str, str]:
    with pytest.raises(RunbookError) as caught:
        parse(extra)
    return dict(caught.value.problems)


def test_the_manual_monitor_line_is_a_built_in_suggesting_rule() -> None:
    runbook = load_runbook(DEFAULT)
    for text, value in (("CRITICAL: Golden Path health at 0.87% - Triggering rollback", 0.87),
                        ("CRITICAL: Golden Path health at 87% - Triggering rollback", 0.87)):  # fmt: skip
        match = match_message(runbook, {"text": text})
        assert match is not None and match.rule.name == BUILTIN_RULE_NAME
        assert match.value == pytest.approx(value)
        assert (match.rule.mode, match.rule.phase, match.rule.level) == ("suggest", "phase3", "level1")
        assert match.fingerprint == "rule:netra-backend/manual-monitor:golden_path.success_rate"
    assert match_message(runbook, {"text": "Golden path looks fine"}) is None


def test_runbook_rules_match_text_and_event_fields_first() -> None:
    runbook = parse("""\
alerts:
  - name: datadog-golden
    fields: {bot_profile.name: '^Datadog$', attachments.0.title: 'Golden path'}
    pattern: 'success rate (?P<value>[0-9.]+)'
    metric: golden_path.success_rate
    phase: phase2
    mode: auto
""")
    event = {"text": "[Triggered] success rate 0.81", "bot_profile": {"name": "Datadog"},
             "attachments": [{"title": "Golden path degraded"}]}  # fmt: skip
    match = match_message(runbook, event)
    assert match is not None and match.rule.name == "datadog-golden" and match.value == pytest.approx(0.81)
    assert match_message(runbook, event | {"bot_profile": {"name": "Grafana"}}) is None
    assert match_message(runbook, {"text": "success rate 0.81"}) is None, "a rule's fields must be present"


def test_bad_alert_rules_and_health_sources_are_load_errors() -> None:
    where = problems_of("""\
alerts:
  - {name: a, pattern: '([unclosed', metric: m}
  - {name: b, pattern: x, metric: m, mode: auto}
  - {name: d, metric: m}
health:
  gp:
    url: http://127.0.0.1:9/h
    metrics: {success_rate: {rollback_below: 0.9}}
    failure_limit: 3
    window: 3
""")
    messages = " | ".join(where.values())
    assert "invalid regular expression" in messages
    assert "mode: auto needs the `phase`" in messages
    assert "needs `pattern` or `fields`" in messages
    assert "failure_limit (3) must be below window (3)" in messages
    (unknown,) = problems_of("alerts:\n  - {name: c, pattern: x, metric: m, phase: phase9}\n").items()
    assert unknown == ("alerts[0] (line 12)", "phase 'phase9' does not exist")


@pytest.mark.parametrize(
    ("threshold", "value", "baseline", "expected"),
    [
        (Threshold(alert_below=0.95, rollback_below=0.90), 0.99, None, ("successful", "")),
        (Threshold(alert_below=0.95, rollback_below=0.90), 0.93, None, ("inconclusive", "< 0.95")),
        (Threshold(alert_below=0.95, rollback_below=0.90), 0.87, None, ("failed", "< 0.9")),
        (Threshold(alert_below=95, rollback_below=90), 87, None, ("failed", "< 0.9")),  # percentages
        (Threshold(rollback_above=500), 620, None, ("failed", "> 500")),
        (Threshold(rollback_above_baseline=0.20), 130, {"memory": 100}, ("failed", "> 120")),
        (Threshold(rollback_above_baseline=20), 115, {"memory": 100}, ("successful", "")),
        (Threshold(rollback_above_baseline=0.20), 999, None, ("successful", "")),  # no baseline yet
    ],
)
def test_measurements_are_classified_against_their_limits(
    threshold: Threshold, value: float, baseline: dict[str, float] | None, expected: tuple[str, str]
) -> None:
    assert classify("memory", threshold, value, baseline) == expected
