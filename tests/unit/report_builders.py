"""Hand-made report data shared by the report unit tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jobs.records.audit import AuditEntry
from jobs.records.runs import RunRecord
from jobs.report import ReportData
from tests.unit.builders import T0, alert, incident, run, step


def at(seconds: float) -> datetime:
    """T0 plus `seconds`."""
    return T0 + timedelta(seconds=seconds)


def family(**fields: Any) -> ReportData:
    """Alert, failed level1, successful level2, a validation, the resolved incident, one acknowledgment."""
    values: dict[str, Any] = {
        "runs": [first_run(), escalation()],
        "subject": "rb-2",
        "validations": [run("succeeded", run_id="va-1", kind="validation", level=None, created_at=at(300),
                            started_at=at(301), ended_at=at(311), elapsed=10.0, steps=[step(0)])],
        "incident": incident(key="k1", status="resolved", resolved_at=at(400), resolved_by="pagerduty:Alice"),
        "alert": alert(alert_id="al-1", first_seen=at(-120), count=3),
        "audit": [AuditEntry(id="1-0", time=at(50), actor="U0ACK", action="incident.acknowledge", result="ok",
                             args={"key": "k1"})],
    }  # fmt: skip
    return ReportData(**(values | fields))


def section(report: str, title: str) -> list[str]:
    """The lines of the `## title` section."""
    part = report.split(f"## {title}\n\n", 1)[1]
    return part.split("\n\n## ", 1)[0].split("\n")


def first_run(**fields: Any) -> RunRecord:
    """rb-1: phase3 level1, failed after 30 s at its only step."""
    values: dict[str, Any] = {"run_id": "rb-1", "incident_key": "k1", "alert_id": "al-1",
                              "steps": [step(0, "failed", title="Restart | all", detail="boom\nexit", exit_code=3,
                                             started_at=at(1))]}  # fmt: skip
    merged = values | fields
    return run(merged.pop("status", "failed"), **merged)


def escalation(**fields: Any) -> RunRecord:
    """rb-2: phase3 level2 escalated from rb-1, succeeded after 2 min."""
    values: dict[str, Any] = {"run_id": "rb-2", "level": "level2", "parent_run_id": "rb-1", "created_at": at(60),
                              "started_at": at(61), "ended_at": at(181), "elapsed": 120.0, "budget": 900.0,
                              "head_after": "fedcba9876543210", "steps": [step(0, started_at=at(61))]}  # fmt: skip
    merged = values | fields
    return run(merged.pop("status", "succeeded"), **merged)
