"""What each long-running process imports before it forks: `rollbot web`'s gunicorn master only what
its listeners need (they parse, authorize, ack and enqueue by task name), `rollbot worker` what a
rollback needs, so its work horses start with that code loaded. Each check runs in a fresh
interpreter: this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_runbook

# Loaded by jobs (a run's executor and health checks, paging, reports, e-mail), never by a listener.
NOT_IN_WEB = ("httpx", "pagerduty", "matplotlib", "smtplib", "jobs.tasks", "jobs.runs.runner",
              "jobs.runs.steps", "jobs.runs.executor", "jobs.host.health", "jobs.report", "jobs.comms")  # fmt: skip
ROLLBACK_PATH = ("jobs.tasks", "jobs.runs.runner", "jobs.runs.steps", "jobs.runs.executor", "jobs.host.health",
                 "jobs.slack.notifier", "jobs.pagerduty.escalation", "httpx", "slack_sdk")  # fmt: skip


def _loaded_after(code: str) -> set[str]:
    """The modules loaded once `code` has run in a fresh interpreter (this process's environment)."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_web_master_loads_no_job_code_before_it_forks(env: dict[str, str], repo: Path) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    loaded = _loaded_after(
        "import bot.cli\n"  # the `rollbot` command, as `rollbot web` starts
        "from bot.server import build_wsgi_app, load_before_fork\n"
        "load_before_fork()\n"
        "build_wsgi_app()\n"  # what each gunicorn worker builds after fork: no import on the way either
    )
    assert "bot.app" in loaded
    assert "jobs.runbook.catalog" in loaded
    assert [name for name in NOT_IN_WEB if name in loaded] == []


def test_the_cli_alone_loads_neither_the_worker_nor_the_procedures() -> None:
    loaded = _loaded_after("import bot.cli")
    assert [name for name in (*NOT_IN_WEB, "jobs.worker", "bot.procedures", "bot.rehearsals") if name in loaded] == []


def test_the_worker_preloads_what_a_rollback_needs_and_leaves_reports_out() -> None:
    before = _loaded_after("import jobs.worker")
    assert "jobs.runs.executor" not in before
    after = _loaded_after("import jobs.worker\njobs.worker.preload_jobs()")
    assert [name for name in ROLLBACK_PATH if name not in after] == []
    assert "matplotlib" not in after
