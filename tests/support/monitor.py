"""Shared set-up of the monitor tests: health runbooks, a bad release, what the monitor did."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from jobs.alerts.monitor import MonitorState
from jobs.context import Context
from jobs.records.runs import RunRecord
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import create_run
from jobs.runs.plan import select
from jobs.runs.runner import execute_run
from tests.conftest import commit, git, write_runbook
from tests.standins.health import HealthEndpoint

BAD = 0.87  # a failing golden-path success rate


def health_runbook(
    env: dict[str, str], repo: Path, health: HealthEndpoint, extra_step: str = "", **options: Any
) -> Path:
    """phase2's rollback resets to the checkpoint and "redeploys" (health turns good); the monitor
    watches the endpoint and rolls phase2 back automatically unless `options` say otherwise.
    """
    settings = {"interval": "1h", "failure_limit": 0, "consecutive_error_limit": 2, "cooldown": "15m",
                "mode": "auto", "dry_run": "false", "phase": "phase2", "level": "immediate"} | {
                    k: str(v) for k, v in options.items()}  # fmt: skip
    steps = f"""\
        - name: Redeploy
          uses: http.check
          method: POST
          url: {health.deploy_url}
    """
    steps = textwrap.dedent(steps).rstrip(" ") + extra_step
    extra = f"""\
    health:
      golden_path:
        url: {health.url}
        interval: {settings["interval"]}
        metrics:
          success_rate: {{alert_below: 0.95, rollback_below: 0.90}}
        failure_limit: {settings["failure_limit"]}
        consecutive_error_limit: {settings["consecutive_error_limit"]}
        cooldown: {settings["cooldown"]}
        dry_run: {settings["dry_run"]}
        on_breach: {{phase: {settings["phase"]}, level: {settings["level"]}, mode: {settings["mode"]}}}
    """
    path = write_runbook(Path(env["RUNBOOK"]), repo, steps=steps, extra=extra, phase3=settings["phase"] == "phase3")
    return path


def checkpoint_then_bad_release(ctx: Context, path: Path, repo: Path, phase: str = "phase2") -> str:
    """Record the phase's checkpoint (pre-flight), then commit a bad release; returns the good commit."""
    runbook = load_runbook(path)
    good = git(repo, "rev-parse", "HEAD")
    execute_run(ctx, create_run(ctx, select(runbook, "preflight", phase), "cli:test").run_id, runbook)
    git(repo, "checkout", "-q", "main")
    commit(repo, "bad release")
    return good


def last_outcome(ctx: Context) -> str | None:
    last = state(ctx).last
    return last.outcome if last else None


def automated_runs(ctx: Context) -> list[RunRecord]:
    return [r for r in ctx.runs.recent(50) if r.actor == "automation"]


def state(ctx: Context, service: str = "sandbox") -> MonitorState:
    raw = ctx.redis.get(ctx.keys.monitor(service, "golden_path"))
    return MonitorState.model_validate_json(raw) if raw else MonitorState()
