"""The report's success metrics and golden-path chart from a real incident: the monitor measures a
health endpoint every second, rolls back on the breach and sees the recovery; the report posted in
the run's thread has its "Success metrics" and a PNG beside it, and `rollbot report --chart`
writes the same picture.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from jobs.context import Context
from tests.conftest import ROLLBOT, start_worker, stop_worker, wait_for
from tests.standins.health import HealthEndpoint
from tests.standins.slack import SlackStandIn
from tests.support.monitor import BAD, automated_runs, checkpoint_then_bad_release, health_runbook, last_outcome

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_report_measures_success_and_draws_the_golden_path_beside_it(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn, tmp_path: Path
) -> None:
    path = health_runbook(env, repo, health, interval="1s")
    marked = "success_rate: {alert_below: 0.95, rollback_below: 0.90, customer_facing: true}"
    path.write_text(path.read_text().replace("success_rate: {alert_below: 0.95, rollback_below: 0.90}", marked))
    checkpoint_then_bad_release(ctx, path, repo)
    worker = start_worker(env)
    try:
        wait_for(lambda: last_outcome(ctx) == "successful", 30, "a healthy measurement")
        health.set(BAD)
        run = wait_for(lambda: automated_runs(ctx), 30, "the automated rollback")[0]
        wait_for(lambda: [c for c in slack.calls_to("upload") if c.params["raw"].startswith(PNG)], 60,
                 "the chart beside the report")  # fmt: skip
        key = f"rollbot-sandbox-{ctx.runs.get(run.run_id).alert_id}"
        incident = wait_for(lambda: (i := ctx.incidents.get(key)) and i.customer_facing_by and i, 30,
                            "the incident to be found customer-facing")  # fmt: skip
    finally:
        stop_worker(worker)

    assert incident.customer_facing_by == "metric"  # the breached metric is marked customer-facing
    uploads = slack.calls_to("upload")
    reports = [c.params["content"] for c in uploads if "# Incident report" in c.params["content"]]
    charts = [c.params["raw"] for c in uploads if c.params["raw"].startswith(PNG)]
    assert len(reports) == 1 and len(charts) == 1
    completed = [f["title"] for c in slack.calls_to("files.completeUploadExternal") for f in c.params["files"]]
    assert f"Golden path during {run.run_id}" in completed
    metrics = reports[0].split("## Success metrics\n\n", 1)[1].split("\n\n## ", 1)[0]
    assert "| Recovery time |" in metrics and "within the 1h target" in metrics
    assert "Outage window (golden_path.success_rate beyond its limit)" in metrics
    assert "measurements of golden_path.success_rate" in metrics

    chart = tmp_path / "chart.png"
    done = subprocess.run([ROLLBOT, "report", run.run_id, "--chart", str(chart)], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "## Success metrics" in done.stdout and chart.read_bytes().startswith(PNG)
