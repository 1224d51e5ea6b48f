"""`rollbot web` routes other than Slack's, Redis outages, and the app manifest."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import yaml

from tests.bot.test_slack_rollback import slash
from tests.conftest import ROLLBOT, free_port, wait_for, write_runbook
from tests.standins.slack import SlackStandIn


def test_healthz_metrics_and_other_routes(env: dict[str, str], repo: Path, web: str) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    health = httpx.get(f"{web}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "redis": "up", "workers": 0,
                             "queues": {"rollback": 0, "notify": 0, "validation": 0, "monitor": 0}}  # fmt: skip
    metrics = httpx.get(f"{web}/metrics", timeout=5).text
    assert "rollbot_redis_up 1.0" in metrics and "rollbot_runs_active 0.0" in metrics
    assert 'rollbot_queue_jobs{queue="rollback"} 0.0' in metrics
    assert httpx.post(f"{web}/pagerduty/webhook", content=b"{}", timeout=5).status_code == 503
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
    port = free_port()
    down = {**os.environ, **env, "REDIS_URL": "redis://127.0.0.1:1/0"}
    proc = subprocess.Popen([ROLLBOT, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], env=down,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def answers() -> httpx.Response | None:
            try:
                return httpx.get(f"{base}/healthz", timeout=2)
            except httpx.HTTPError:
                return None

        health = wait_for(answers, timeout=30, message="/healthz")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert "rollbot_redis_up 0.0" in httpx.get(f"{base}/metrics", timeout=5).text
        answer = slash(base, slack, "/rollback", "phase2")
        assert answer["response_type"] == "ephemeral"
        text = answer["text"]
        assert "cannot reach Redis" in text and "rollbot rollback phase2 --level immediate" in text
        assert f"cd {repo}" in text and "git tag --list 'pre-factory-consolidation-*'" in text
        assert "git checkout main && git reset --hard $TAG" in text and "deploy --project sandbox" in text
    finally:
        proc.terminate()
        proc.wait(timeout=15)


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
