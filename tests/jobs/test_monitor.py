"""The golden-path monitor against a local health endpoint whose values the test controls."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from jobs.alerts import monitor
from jobs.context import Context
from jobs.records import audit
from jobs.records.alerts import Alert
from jobs.runbook.loader import load_runbook
from tests.conftest import commit, git, run_worker, start_worker, stop_worker, wait_for
from tests.standins.health import HealthEndpoint
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import button_value
from tests.standins.slack import Failure, SlackStandIn
from tests.support.monitor import BAD, automated_runs, checkpoint_then_bad_release, health_runbook, last_outcome, state

GOOD, SHAKY = 0.99, 0.93


def poll(ctx: Context, path: Path) -> list[threading.Thread]:
    """One poll of the golden path, in this process; waits for its PagerDuty deliveries."""
    runbook = load_runbook(path)
    threads = monitor.poll_once(ctx, runbook, "golden_path", runbook.health["golden_path"])
    for thread in threads:
        thread.join(10)
    return threads


def alerts(ctx: Context) -> list[Alert]:
    found = [ctx.alerts.get(key.decode().rsplit(":", 1)[1]) for key in ctx.redis.scan_iter(f"{ctx.keys.alert('*')}")
             if key.decode().count(":") == 2]  # fmt: skip
    return sorted((a for a in found if a is not None), key=lambda a: a.first_seen)


def alert_cards(slack: SlackStandIn, method: str) -> list[dict[str, Any]]:
    """Posts (or updates) of alert cards, oldest first."""
    return [c.params for c in slack.calls_to(method)
            if (c.params.get("metadata") or {}).get("event_type") == "rollbot_alert"]  # fmt: skip


def test_breach_rolls_back_once_pages_once_and_recovery_resolves(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health, interval="1s")
    good = checkpoint_then_bad_release(ctx, path, repo)
    worker = start_worker(env)
    try:
        wait_for(lambda: last_outcome(ctx) == "successful", 30, "a healthy measurement")
        health.set(BAD)
        run = wait_for(lambda: automated_runs(ctx), 30, "the automated rollback")[0]
        wait_for(lambda: not ctx.runs.get(run.run_id).is_active, 60, "the rollback to end")
        alert = wait_for(lambda: [a for a in alerts(ctx) if a.state == "resolved"], 30, "the alert to resolve")[0]
        wait_for(lambda: pagerduty.events("resolve"), 30, "the incident to be resolved")
        wait_for(lambda: alert_cards(slack, "chat.update")
                 and alert_cards(slack, "chat.update")[-1]["metadata"]["event_payload"]["state"] == "resolved",
                 30, "the card to show it resolved")  # fmt: skip
    finally:
        stop_worker(worker)

    assert ctx.runs.get(run.run_id).status == "succeeded"
    assert git(repo, "rev-parse", "HEAD") == good
    assert len(automated_runs(ctx)) == 1
    assert [a.alert_id for a in alerts(ctx)] == [alert.alert_id]
    assert alert.run_id == run.run_id and alert.value == GOOD and BAD in alert.trend
    triggers = pagerduty.events("trigger")
    assert len(triggers) == 1
    assert triggers[0]["payload"]["custom_details"]["value"] == BAD
    assert triggers[0]["payload"]["custom_details"]["threshold"] == "< 0.9"
    assert [e["dedup_key"] for e in pagerduty.events("resolve")] == [triggers[0]["dedup_key"]]
    posts = alert_cards(slack, "chat.postMessage")
    assert len(posts) == 1
    assert posts[0]["metadata"]["event_payload"] == {"alert_id": alert.alert_id, "metric": "success_rate",
                                                     "state": "firing"}  # fmt: skip
    assert "Rolled back automatically" in str(posts[0]["blocks"])
    audited = [e["action"] for e in audit.entries(ctx.redis, ctx.keys) if e["actor"] == "automation"]
    assert "rollback.request" in audited and "alert.act" in audited


def test_failure_limit_two_needs_a_third_failing_measurement(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health, failure_limit=2)
    checkpoint_then_bad_release(ctx, path, repo)
    health.set(BAD)
    poll(ctx, path)
    poll(ctx, path)
    assert (alerts(ctx), automated_runs(ctx), pagerduty.events("trigger")) == ([], [], [])
    assert [m.outcome for m in state(ctx).window] == ["failed", "failed"]
    poll(ctx, path)
    assert len(alerts(ctx)) == 1 and alerts(ctx)[0].kind == "breach"
    assert len(automated_runs(ctx)) == 1 and automated_runs(ctx)[0].alert_id == alerts(ctx)[0].alert_id
    assert len(pagerduty.events("trigger")) == 1
    poll(ctx, path)  # still bad while the rollback is queued: nothing more
    assert len(automated_runs(ctx)) == 1 and len(pagerduty.events("trigger")) == 1 and len(alerts(ctx)) == 1


def test_unreachable_source_never_rolls_back_and_pages_once(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health, consecutive_error_limit=2)
    checkpoint_then_bad_release(ctx, path, repo)
    health.set(BAD, status=503)
    poll(ctx, path)
    poll(ctx, path)
    assert pagerduty.events("trigger") == [] and state(ctx).consecutive_errors == 2
    for _ in range(3):
        poll(ctx, path)
    triggers = pagerduty.events("trigger")
    assert len(triggers) == 1 and "503" in triggers[0]["payload"]["custom_details"]["detail"]
    assert automated_runs(ctx) == []
    (blind,) = alerts(ctx)
    assert blind.kind == "blind" and "cannot be read" in blind.decision
    health.set(GOOD)
    poll(ctx, path)
    assert ctx.alerts.get(blind.alert_id).state == "resolved"  # type: ignore[union-attr]
    assert [e["dedup_key"] for e in pagerduty.events("resolve")] == [triggers[0]["dedup_key"]]
    assert automated_runs(ctx) == []


def test_cooldown_blocks_a_second_automatic_rollback(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health)
    checkpoint_then_bad_release(ctx, path, repo)
    health.set(BAD)
    poll(ctx, path)
    (first,) = automated_runs(ctx)
    run_worker(env, "--queues", "rollback,notify")  # runs the rollback; its "redeploy" makes health good
    assert ctx.runs.get(first.run_id).status == "succeeded"
    poll(ctx, path)
    assert alerts(ctx)[0].state == "resolved"
    commit(repo, "bad release again")
    health.set(BAD)
    poll(ctx, path)
    second = alerts(ctx)[1]
    assert second.state == "firing" and second.run_id is None
    assert "Cooldown" in second.decision
    assert len(automated_runs(ctx)) == 1
    assert len(pagerduty.events("trigger")) == 2  # the new breach still pages
    ctx.redis.delete(ctx.keys.auto_rollback_cooldown("sandbox"))  # the cooldown over: the next breach acts
    health.set(GOOD)
    poll(ctx, path)
    health.set(BAD)
    poll(ctx, path)
    assert len(automated_runs(ctx)) == 2


def test_dry_run_says_what_it_would_have_done(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health, dry_run="true")
    checkpoint_then_bad_release(ctx, path, repo)
    health.set(BAD)
    poll(ctx, path)
    (alert,) = alerts(ctx)
    assert (
        alert.dry_run and "Dry run: would page PagerDuty and roll back phase2 immediate automatically" in alert.decision
    )
    assert automated_runs(ctx) == [] and pagerduty.events("trigger") == []
    run_worker(env, "--queues", "notify")  # a worker posts the card
    (card,) = alert_cards(slack, "chat.postMessage")
    assert "Dry run" in str(card["blocks"])


def test_inconclusive_asks_a_person_and_a_breach_then_acts(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health)
    checkpoint_then_bad_release(ctx, path, repo)
    health.set(SHAKY)
    poll(ctx, path)
    (alert,) = alerts(ctx)
    assert alert.kind == "inconclusive" and alert.threshold == "< 0.95"
    run_worker(env, "--queues", "notify")  # a worker posts the card
    (card,) = alert_cards(slack, "chat.postMessage")
    actions = [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["alert_rollback", "alert_keep_watching", "alert_silence"]
    assert automated_runs(ctx) == [] and pagerduty.events("trigger") == []
    health.set(BAD)
    poll(ctx, path)
    assert ctx.alerts.get(alert.alert_id).kind == "breach"  # type: ignore[union-attr]
    assert len(automated_runs(ctx)) == 1 and len(pagerduty.events("trigger")) == 1
    assert len(alerts(ctx)) == 1


def test_a_failed_automated_rollback_keeps_its_page_open_after_health_recovers(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health, extra_step="- name: Smoke test\n  run: [sh, -c, 'exit 1']\n")
    checkpoint_then_bad_release(ctx, path, repo)
    health.set(BAD)
    poll(ctx, path)
    (run,) = automated_runs(ctx)
    run_worker(env, "--queues", "rollback,notify")  # redeploys (health good), then its smoke test fails
    assert ctx.runs.get(run.run_id).status == "failed"
    poll(ctx, path)
    (alert,) = alerts(ctx)
    assert alert.state == "resolved" and "its page stays open" in (alert.resolution or "")
    keys = {e["dedup_key"] for e in pagerduty.events("trigger")}
    assert keys == {alert.incident_key}, "the breach and the failed run page one incident"
    assert pagerduty.events("resolve") == []


def test_a_breach_starts_the_rollback_and_pages_while_slack_is_down(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health)
    checkpoint_then_bad_release(ctx, path, repo)
    slack.fail(Failure(count=0, status=503, until=time.monotonic() + 600))
    health.set(BAD)
    started = time.monotonic()
    poll(ctx, path)
    assert time.monotonic() - started < 10, "a poll never waits on Slack"
    assert len(automated_runs(ctx)) == 1 and len(pagerduty.events("trigger")) == 1


def test_not_recovered_after_the_rollback_offers_the_next_level(
    ctx: Context, env: dict[str, str], repo: Path, health: HealthEndpoint, slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = health_runbook(env, repo, health, phase="phase3", level="level1")
    checkpoint_then_bad_release(ctx, path, repo, phase="phase3")
    health.set(BAD)
    poll(ctx, path)
    (run,) = automated_runs(ctx)
    run_worker(env, "--queues", "rollback,notify")  # level 1's emergency deployment fails
    assert ctx.runs.get(run.run_id).status == "failed"
    poll(ctx, path)
    (alert,) = alerts(ctx)
    assert alert.state == "firing" and alert.next_level == "level2"
    assert f"Not recovered after run `{run.run_id}` (failed)" in alert.decision
    assert "Next: roll back phase3 level2?" in alert.decision
    time.sleep(1.5)  # the card update is scheduled a second out; a burst worker takes due jobs
    run_worker(env, "--queues", "notify")
    card = alert_cards(slack, "chat.update")[-1]
    assert button_value(card["blocks"], "alert_rollback") == f"{alert.alert_id}|level2"
    assert len(automated_runs(ctx)) == 1, "the next level is offered, never started by itself"
