"""Hand-made inputs for the unit tier (a small runbook, runs, alerts, approvals, incidents) and
the Block Kit checks every builder's output goes through.
"""

from __future__ import annotations

import functools
import json
import textwrap
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.metadata import Metadata

from jobs.records.alerts import Alert
from jobs.records.approvals import Approval
from jobs.records.checkpoints import Checkpoint
from jobs.records.incidents import Incident
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.loader import parse_runbook
from jobs.runbook.model import Runbook

T0 = datetime(2026, 11, 25, 17, 42, 33, tzinfo=UTC)

RUNBOOK_YAML = textwrap.dedent("""\
    version: 1
    service: billing
    repo: /srv/billing
    alert_channel: "#alerts"
    vars:
      project: billing-prod
    contacts:
      technical: ["Alice (on call)"]
      business: ["Product Manager", "VP Engineering"]
      executive: ["CEO"]
      customer: ["Status page"]
    recovery_checklist:
      - name: Login works
      - name: Health endpoint answers
        run: [curl, -f, "https://{project}.example/health"]
      - name: Dashboards are green
    post_rollback_actions: ["Write the incident report"]
    access:
      roles: {operator: {users: [U0OPERATOR]}, approver: {users: [U0APPROVER]}}
      actions: {approve: approver}
    phases:
      phase1:
        title: Analysis
        risk: minimal
        analysis_only: true
        stop_criteria: [Error rate doubles]
        recovery_actions: [Turn the flag off]
      phase2:
        title: Tool dispatcher
        risk: medium
        checkpoint: phase2-pre
        preflight:
          - uses: git.checkpoint
        levels:
          immediate:
            title: Reset to checkpoint
            budget: 5m
            steps:
              - uses: git.reset_to_checkpoint
              - name: Restart services
                run: [systemctl, restart, "{service}-{project}"]
                timeout: 30s
      phase3:
        title: WebSocket
        risk: high
        levels:
          level1: {budget: 10m, steps: [{run: [echo, level1]}]}
          level2: {budget: 15m, steps: [{run: [echo, level2]}]}
          level3: {budget: 30m, approvals: 2, steps: [{run: [echo, "{phase}-{level}-{run_id}"]}]}
        validation:
          - {name: Smoke tests, run: [pytest, smoke]}
    """)


@functools.cache
def runbook(text: str = RUNBOOK_YAML) -> Runbook:
    """The small runbook above, through the loader (its `repo` is absolute, so no file is read).
    Parsed once per text: a runbook is frozen, so tests can share it.
    """
    return parse_runbook(text, "billing.yaml", Path("/srv"))


def other_runbook(service: str = "search") -> Runbook:
    """A second service's runbook (same alert channel), for catalogs of several."""
    return runbook(RUNBOOK_YAML.replace("service: billing", f"service: {service}"))


def checkpoint(tag: str = "phase2-pre-20261125") -> Checkpoint:
    """A recorded checkpoint of phase2."""
    return Checkpoint(tag=tag, commit="0123456789abcdef0123", taken_at=T0 - timedelta(hours=2), actor="U0OPERATOR")


def step(index: int, status: str = "succeeded", **fields: Any) -> StepRecord:
    """A step record; `fields` override the defaults."""
    values: dict[str, Any] = {"index": index, "title": f"Step {index + 1}", "command": f"echo {index}",
                              "status": status, "duration": 2.0 + index}  # fmt: skip
    return StepRecord.model_validate(values | fields)


def run(status: str = "succeeded", **fields: Any) -> RunRecord:
    """A phase3 level1 rollback record by U0OPERATOR; `fields` override the defaults."""
    values: dict[str, Any] = {
        "run_id": "rb-20261125-174233-3fa2", "kind": "rollback", "service": "billing", "phase": "phase3",
        "level": "level1", "actor": "U0OPERATOR", "status": status, "created_at": T0, "budget": 600.0,
    }  # fmt: skip
    if status not in ("queued",):
        values["started_at"] = T0 + timedelta(seconds=1)
    if status not in ("queued", "running"):
        values |= {"ended_at": T0 + timedelta(seconds=31), "elapsed": 30.0}
    return RunRecord.model_validate(values | fields)


def alert(**fields: Any) -> Alert:
    """A firing breach of golden_path.success_rate proposing phase3 level1."""
    values: dict[str, Any] = {
        "alert_id": "al-20261125-174000-9c1e", "origin": "monitor", "source": "golden_path", "service": "billing",
        "fingerprint": "monitor:billing/golden_path", "metric": "success_rate", "value": 0.87, "threshold": "< 0.9",
        "trend": [0.97, 0.91, 0.87], "first_seen": T0 - timedelta(minutes=2), "last_seen": T0,
        "phase": "phase3", "level": "level1",
    }  # fmt: skip
    return Alert.model_validate(values | fields)


def approval(**fields: Any) -> Approval:
    """A pending approval of phase3 level3 requested by U0OPERATOR."""
    values: dict[str, Any] = {
        "run_id": "rb-20261125-174233-aaaa", "service": "billing", "phase": "phase3", "level": "level3",
        "requested_by": "U0OPERATOR", "requested_at": T0, "expires_at": T0 + timedelta(minutes=15),
    }  # fmt: skip
    return Approval.model_validate(values | fields)


def incident(**fields: Any) -> Incident:
    """A triggered incident of the default run."""
    values: dict[str, Any] = {
        "key": "rollbot-billing-rb-20261125-174233-3fa2", "service": "billing", "title": "Rollback phase3 level1 FAILED",
        "run_id": "rb-20261125-174233-3fa2", "status": "triggered", "opened_at": T0, "paged_at": T0,
    }  # fmt: skip
    return Incident.model_validate(values | fields)


# --- Block Kit checks ---------------------------------------------------------------------------


def valid_blocks(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """Each block as Slack receives it, after checking it parses back with slack_sdk's models into
    the same JSON and passes their validation. Returns the blocks' dicts.
    """
    dicts = [block.to_dict() for block in blocks]
    json.dumps(dicts)  # what goes over the wire
    parsed = Block.parse_all(dicts)
    assert len(parsed) == len(dicts)
    for raw, block in zip(dicts, parsed, strict=True):
        single = Block.parse(raw)
        assert single is not None and type(single) is type(block)
        block.validate_json()
        assert block.to_dict() == raw, raw
    assert len(dicts) <= 50  # Slack's limit per message
    return dicts


def walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside `value`, depth first."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def action_ids(blocks: Sequence[Block]) -> list[str]:
    """The `action_id` of every interactive element, in order (buttons and accessories)."""
    return [str(d["action_id"]) for d in walk(valid_blocks(blocks)) if "action_id" in d]


def buttons(blocks: Sequence[Block]) -> dict[str, dict[str, Any]]:
    """Buttons by action_id."""
    return {str(d["action_id"]): d for d in walk(valid_blocks(blocks)) if d.get("type") == "button"}


def all_text(blocks: Sequence[Block]) -> str:
    """Every text of the blocks, joined (for `in` checks)."""
    return "\n".join(str(d["text"]) for d in walk(valid_blocks(blocks)) if isinstance(d.get("text"), str))


def metadata_of(metadata: Metadata) -> tuple[str, dict[str, Any]]:
    """(event_type, event_payload) as Slack receives them."""
    raw = metadata.to_dict()
    json.dumps(raw)
    return raw["event_type"], raw["event_payload"]
