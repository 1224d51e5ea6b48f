"""`rollbot web` routes other than Slack's, Redis outages, and the app manifest."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import yaml

from jobs.context import Context
from tests.conftest import ROLLBOT, start_web, stop, write_runbook
from tests.standins.slack import Failure, SlackStandIn
from tests.support.slack import slash


def test_healthz_metrics_and_other_routes(env: dict[str, str], repo: Path, web: str) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    health = httpx.get(f"{web}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "redis": "up", "workers": 0,
                             "queues": {"rollback": 0, "notify": 0, "validation": 0, "monitor": 0}}  # fmt: skip
    metrics = httpx.get(f"{web}/metrics", timeout=5).text
    assert "rollbot_redis_up 1.0" in metrics and "rollbot_runs_active 0.0" in metrics
    assert 'rollbot_queue_jobs{queue="rollback"} 0.0' in metrics
    assert httpx.post(f"{web}/pagerduty/webhook", content=b"{}", timeout=5).status_code == 401  # unsigned
    assert httpx.get(f"{web}/nowhere", timeout=5).status_code == 404
    assert httpx.get(f"{web}/slack/events", timeout=5).status_code == 405
    big = httpx.post(f"{web}/slack/events", content=b"x" * (1024 * 1024 + 1), timeout=5)
    assert big.status_code == 413


def test_redis_down_healthz_503_and_the_manual_steps_by_hand(
    env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    write_runbook(
        Path(env["RUNBOOK"]), repo, steps="- name: Restart staging\n  run: [deploy, --project, '{project}']\n"
    )
    proc, base = start_web(env, REDIS_URL="redis://127.0.0.1:1/0")
    try:
        health = httpx.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert "rollbot_redis_up 0.0" in httpx.get(f"{base}/metrics", timeout=5).text
        started = time.monotonic()
        answer = slash(base, slack, "/rollback", "phase2")
        assert time.monotonic() - started < 3
        assert answer["response_type"] == "ephemeral"
        text = answer["text"]
        assert "cannot reach Redis" in text and "rollbot rollback phase2 --level immediate" in text
        assert f"cd {repo}" in text and "git tag --list 'pre-factory-consolidation-*'" in text
        assert "git checkout main && git reset --hard $TAG" in text and "deploy --project sandbox" in text
    finally:
        stop(proc)


def test_commands_are_answered_while_slacks_web_api_is_down(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    slack.fail(Failure(count=0, status=503, until=time.monotonic() + 3600))  # auth.test included
    proc, base = start_web(env)
    try:
        answer = slash(base, slack, "/rollback", "phase2")
        assert "Rollback plan: phase2" in answer["text"]
        assert "phase2 has no level" in slash(base, slack, "/rollback", "phase2 nope")["text"]
    finally:
        stop(proc)


def test_manifest_for_a_public_url() -> None:
    done = subprocess.run([ROLLBOT, "manifest", "--url", "https://rollbot.acme.dev/"], capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = yaml.safe_load(done.stdout)
    events = "https://rollbot.acme.dev/slack/events"
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/rollback", "/preflight", "/validate"]
    assert {c["url"] for c in manifest["features"]["slash_commands"]} == {events}
    assert manifest["settings"]["interactivity"]["request_url"] == events
    assert manifest["settings"]["event_subscriptions"]["request_url"] == events
    assert {"commands", "chat:write", "files:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    refused = subprocess.run([ROLLBOT, "manifest", "--url", "http://insecure"], capture_output=True, text=True,
                             timeout=30, check=False)  # fmt: skip
    assert refused.returncode == 1 and "not an https URL" in refused.stderr
