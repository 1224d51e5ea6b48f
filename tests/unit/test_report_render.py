"""Incident report rendering (jobs.report.render, timeline, duration_text) from hand-made runs,
incident, alert and audit entries: the same data gives the same document."""

from __future__ import annotations

from jobs.records.audit import AuditEntry
from jobs.report import MANUAL_POST_ROLLBACK_ACTIONS, duration_text, render
from jobs.report.timeline import timeline
from tests.unit.builders import RUNBOOK_YAML, T0, alert, run, runbook
from tests.unit.report_builders import at, escalation, family, first_run, section


def test_title_and_summary_tell_the_family_and_its_outcome() -> None:
    report = render(family(), runbook())
    assert report.startswith("# Incident report: billing rollback phase3 — WebSocket\n\n"
                             "Runs `rb-1` → `rb-2` · report for `rb-2` · times in UTC\n")  # fmt: skip
    summary = section(report, "Summary")
    assert "- **Phase:** phase3 (WebSocket, risk high)" in summary
    assert ("- **Alert:** `al-1` success_rate = 0.87 (threshold < 0.9), first seen 2026-11-25 17:40:33, seen 3×, "
            "now firing") in summary  # fmt: skip
    assert "  - `rb-1` phase3 level1 by `U0OPERATOR`: **FAILED** after 30s" in summary
    assert ("  - `rb-2` phase3 level2 by `U0OPERATOR`, escalation from `rb-1` (level1 → level2): **succeeded** "
            "after 2m") in summary  # fmt: skip
    assert "- **Recovery time:** 5m1s (within the 1h target)" in summary
    assert "- **Validation runs after the rollback:** 1 (1 succeeded)" in summary
    assert any(line.startswith("- **Outcome:** recovered: rollback `rb-2` succeeded at 2026-11-25 17:45:34 (the "
                               "alert is still firing") for line in summary)  # fmt: skip


def test_a_retry_of_the_same_level_is_called_a_retry() -> None:
    report = render(family(runs=[first_run(), escalation(level="level1")]), runbook())
    assert "  - `rb-2` phase3 level1 by `U0OPERATOR`, retry of `rb-1`: **succeeded** after 2m" in report


def test_the_same_data_gives_the_same_document() -> None:
    assert render(family(), runbook()) == render(family(), runbook())
    assert render(family(), runbook()).endswith("- **Follow-up owners and dates:** _…_\n")


def test_timeline_is_in_time_order_with_escaped_cells() -> None:
    rows = section(render(family(), runbook()), "Timeline")
    assert rows[:2] == ["| Time (UTC) | Elapsed | Event | Who |", "|---|---|---|---|"]
    assert (
        rows[2] == "| 2026-11-25 17:40:33 | +0.0s | First alert `al-1`: success_rate = 0.87 (< 0.9) | `golden_path` |"
    )
    assert ("| 2026-11-25 17:42:34 | +0:02:01 | ❌ `rb-1` step 1/1 Restart \\| all: failed in 2.00s — boom exit "
            "(exit code 3) |  |") in rows  # fmt: skip
    assert "| 2026-11-25 17:43:23 | +0:02:50 | `incident.acknowledge` → ok | `U0ACK` |" in rows
    times = [event.at for event in timeline(family())]
    assert times == sorted(times) and len(times) == 15


def test_events_at_the_same_time_keep_the_order_they_were_found_in() -> None:
    events = timeline(family())
    same = [e.what for e in events if e.at == T0]
    assert same == ["PagerDuty took the page for incident `k1`", "Rollback phase3 level1 requested (`rb-1`)"]


def test_recovery_over_the_target_says_by_how_much() -> None:
    report = render(family(alert=alert(alert_id="al-1", first_seen=at(-7200))), None)
    assert "- **Recovery time:** 2h3m1s (**over** the 1h target)" in report
    assert "| **over** the 1h target by 1h3m1s |" in section(report, "Recovery time")[-1]


def test_the_runbooks_recovery_target_is_used() -> None:
    book = runbook(RUNBOOK_YAML.replace("post_rollback_actions:", "recovery_target: 2m\npost_rollback_actions:"))
    assert "- **Recovery time:** 5m1s (**over** the 2m target)" in render(family(), book)


def test_not_recovered_while_the_last_rollback_failed_and_nobody_resolved_it() -> None:
    report = render(family(runs=[first_run()], incident=None, alert=None, validations=[]), None)
    assert "- **Outcome:** **not recovered**: the last rollback `rb-1` FAILED" in report
    assert "- **Recovery time:** not recovered (target 1h)" in report
    assert "- **PagerDuty:** not paged" in report
    assert section(report, "Recovery time") == ["Not recovered yet. Target: 1h (the manual's recovery target)."]


def test_a_resolved_incident_ends_recovery_after_a_failed_rollback() -> None:
    report = render(family(runs=[first_run()], alert=None), None)
    assert "- **Outcome:** the last rollback FAILED; the incident was resolved at 2026-11-25 17:49:13" in report
    assert "(resolution of the PagerDuty incident)" in section(report, "Recovery time")[-1]


def test_recovery_starts_at_an_earlier_approval_request() -> None:
    asked = AuditEntry(id="0-1", time=at(-30), actor="U0OPERATOR", action="approval.request", result="pending",
                       run_id="rb-1")  # fmt: skip
    report = render(family(alert=None, audit=[asked]), None)
    assert "| 2026-11-25 17:42:03 (approval request of `rb-1`) |" in section(report, "Recovery time")[-1]


def test_a_running_rollback_is_in_progress() -> None:
    report = render(family(runs=[first_run(), escalation(status="running", ended_at=None, elapsed=None)]), None)
    assert "- **Outcome:** in progress: `rb-2` is running" in report
    assert "| `rb-2` | phase3 level2 | running | — | 15m | — | — (running) |" in section(report, "Budget compliance")


def test_budget_compliance_marks_exceeded_budgets_and_runs_without_steps() -> None:
    over = first_run(status="budget_exceeded", elapsed=700.0)
    refused = run("refused", run_id="rb-3", parent_run_id="rb-1", created_at=at(60), started_at=None, ended_at=None,
                  elapsed=None, error="billing is busy")  # fmt: skip
    report = render(family(runs=[over, refused]), None)
    rows = section(report, "Budget compliance")
    assert "| `rb-1` | phase3 level1 | FAILED: budget exceeded | 11m40s | 10m | 117% | **no** |" in rows
    assert "| `rb-3` | phase3 level1 | REFUSED | — | 10m | — | — (no steps ran) |" in rows
    assert "No steps ran: billing is busy." in section(report, "Steps")


def test_who_did_what_in_the_order_people_first_acted() -> None:
    rows = section(render(family(), runbook()), "Who did what")
    assert rows == [
        "- `U0OPERATOR`",
        "  - 2026-11-25 17:42:33 requested rollback phase3 level1 (`rb-1`)",
        "  - 2026-11-25 17:43:33 requested rollback phase3 level2 (`rb-2`)",
        "  - 2026-11-25 17:47:33 requested validation phase3 (`va-1`)",
        "- `U0ACK`",
        "  - 2026-11-25 17:43:23 `incident.acknowledge` → ok",
    ]
    only_bot = family(runs=[first_run(actor="rollbot")], validations=[], audit=[])
    assert section(render(only_bot, None), "Who did what") == ["Nobody but rollbot."]


def test_post_rollback_actions_come_from_the_runbook_or_the_manual() -> None:
    ours = section(render(family(), runbook()), "Post-rollback actions")
    assert ours == ["From the runbook's `post_rollback_actions`; tick them off as they are done.", "",
                    "- [ ] Write the incident report"]  # fmt: skip
    manual = section(render(family(), None), "Post-rollback actions")
    assert manual[0] == "From the manual's; tick them off as they are done."
    assert manual[2:] == [f"- [ ] {action}" for action in MANUAL_POST_ROLLBACK_ACTIONS]


def test_duration_text_shows_hundredths_under_ten_seconds() -> None:
    assert [duration_text(s) for s in (0.034, 2.5, 9.994, 10, 90, 3725)] == ["0.03s", "2.50s", "9.99s", "10s",
                                                                              "1m30s", "1h2m5s"]  # fmt: skip
