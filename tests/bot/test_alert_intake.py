"""Alert messages in the alert channel, over signed HTTP to the real app, acted upon by real workers."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx

from jobs.alerts import monitor
from jobs.alerts.intake import RECURRENCE_GRACE_SECONDS
from jobs.alerts.response import CARD_UPDATE_SECONDS, resolve_alert
from jobs.context import Context
from jobs.core.redis_values import text
from jobs.factory import get_queue
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import create_run
from jobs.runs.plan import select
from jobs.runs.runner import execute_run
from tests.conftest import (
    LEAD,
    ONCALL,
    STRANGER,
    commit,
    run_worker,
    start_worker,
    stop_worker,
    wait_for,
    write_runbook,
)
from tests.standins.health import HealthEndpoint
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import action_body, button_value, signed_post
from tests.standins.slack import SlackStandIn
from tests.support.alerts import MANUAL_LINE, SUGGESTING_HEALTH, alert_cards, message, post_event
from tests.support.slack import replies

AUTO_RULE = """\
alerts:
  - name: golden-path-monitor
    pattern: 'CRITICAL: Golden Path health at (?P<value>[0-9.]+)%'
    metric: golden_path.success_rate
    phase: phase2
    level: immediate
    mode: auto
    cooldown: 15m
"""
AUTO_HEALTH = """\
health:
  golden_path:
    url: {url}
    interval: 1h
    metrics:
      success_rate: {{alert_below: 0.95, rollback_below: 0.90}}
    on_breach: {{phase: phase2, level: immediate, mode: auto}}
"""


def with_checkpoint(ctx: Context, env: dict[str, str], repo: Path, extra: str) -> Path:
    path = write_runbook(Path(env["RUNBOOK"]), repo, extra=extra)
    runbook = load_runbook(path)
    execute_run(ctx, create_run(ctx, select(runbook, "preflight", "phase2"), "cli:test").run_id, runbook)
    commit(repo, "bad release")
    return path


def test_alert_storm_is_one_card_one_rollback_one_page(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    with_checkpoint(ctx, env, repo, AUTO_RULE)
    worker = start_worker(env)
    try:
        started = time.monotonic()
        with httpx.Client() as client, ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: post_event(web, message(MANUAL_LINE), f"Ev{i:04d}", client), range(1000)))
        storm_seconds = time.monotonic() - started
        assert storm_seconds < 60, "1,000 alert messages are acknowledged in well under a minute"
        runs = wait_for(lambda: [r for r in ctx.runs.recent(10) if r.actor == "automation"], 30, "the rollback")
        wait_for(lambda: ctx.runs.get(runs[0].run_id).status == "succeeded", 60, "the rollback to succeed")
        wait_for(lambda: any("seen 1000 times" in str(c["blocks"]) for c in alert_cards(slack, "chat.update")),
                 30, "the card to count every message")  # fmt: skip
        settled = time.monotonic() - started
    finally:
        stop_worker(worker)

    assert len([r for r in ctx.runs.recent(10) if r.actor == "automation"]) == 1
    (card,) = alert_cards(slack, "chat.postMessage")
    alert_id = card["metadata"]["event_payload"]["alert_id"]
    alert = ctx.alerts.get(alert_id)
    assert alert is not None and alert.count == 1000 and alert.value == 0.87 and alert.run_id == runs[0].run_id
    assert alert.posted_by == "golden-path-monitor"
    assert len(pagerduty.events("trigger")) == 1
    updates = alert_cards(slack, "chat.update")
    assert len(updates) <= settled + 2, f"{len(updates)} card updates in {settled:.1f}s: more than one a second"
    times = [c.at for c in slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")
             if (c.params.get("metadata") or {}).get("event_type") == "rollbot_alert"]  # fmt: skip
    gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(times))]
    assert min(gaps) > 0.5, f"card calls {min(gaps):.2f}s apart: the card is updated at most once a second"
    assert all(c.status == 200 for c in slack.calls)


def test_the_manual_monitor_line_suggests_and_the_card_buttons_act_as_the_person(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    with_checkpoint(ctx, env, repo, SUGGESTING_HEALTH)
    post_event(web, message(MANUAL_LINE, subtype=None, bot_id=None, user=LEAD), "Ev1")
    post_event(web, message("CRITICAL: Golden Path health at 0.80% - Triggering rollback", bot_id="BROLLBOT"), "Ev2")
    post_event(web, message("lunch anyone?", subtype=None, user=ONCALL), "Ev3")
    post_event(web, message(MANUAL_LINE, channel="C0RANDOM"), "Ev4")
    wait_for(lambda: ctx.redis.llen(ctx.keys.held_messages) == 3, 10, "3 messages held until the channel is known")
    run_worker(env, "--queues", "notify")  # looks up #critical-alerts, matches the held messages, acts
    assert ctx.redis.get(ctx.keys.alert_channel_id) == b"C0ALERTS"
    post_event(web, message(MANUAL_LINE, channel="C0RANDOM"), "Ev5")  # another channel: not an alert
    post_event(web, message(MANUAL_LINE, subtype=None, bot_id=None, user=LEAD), "Ev6")  # a repeat

    (card,) = alert_cards(slack, "chat.postMessage")
    alert = ctx.alerts.get(card["metadata"]["event_payload"]["alert_id"])
    assert alert is not None
    wait_for(lambda: ctx.alerts.get(alert.alert_id).count >= 2, 10, "the repeat")  # type: ignore[union-attr]
    assert ctx.alerts.get(alert.alert_id).count == 2, "other channels, rollbot's own and chatter are not alerts"  # type: ignore[union-attr]
    assert alert.source == "manual-monitor" and alert.mode == "suggest" and alert.posted_by == LEAD
    assert "Suggested: roll back phase2 immediate" in alert.decision
    assert ctx.runs.recent(10)[0].kind == "preflight", "the built-in rule never rolls back by itself"
    assert len(pagerduty.events("trigger")) == 1
    value = button_value(card["blocks"], "alert_rollback")
    assert value == f"{alert.alert_id}|immediate"

    signed_post(f"{web}/slack/events", action_body("alert_rollback", value, STRANGER, slack.response_url("stranger")))
    assert "requires the `operator` role" in replies(slack, "stranger")[0]
    assert ctx.runs.recent(10)[0].kind == "preflight"

    for name in ("click1", "click2"):
        signed_post(f"{web}/slack/events", action_body("alert_rollback", value, ONCALL, slack.response_url(name)))
    answers = replies(slack, "click1") + replies(slack, "click2")
    assert sum("is run `" in a for a in answers) == 1 and sum("Already started as run" in a for a in answers) == 1
    rollbacks = [r for r in ctx.runs.recent(10) if r.kind == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0].actor == ONCALL and rollbacks[0].alert_id == alert.alert_id
    assert rollbacks[0].incident_key == alert.incident_key

    signed_post(f"{web}/slack/events", action_body("alert_silence", alert.alert_id, ONCALL, slack.response_url("s")))
    wait_for(lambda: ctx.alerts.get(alert.alert_id).state == "silenced", 10, "the silence")  # type: ignore[union-attr]
    assert ctx.alerts.silenced_by(alert.fingerprint) == ONCALL
    time.sleep(CARD_UPDATE_SECONDS + 0.5)  # the card update is scheduled a second out; a burst worker takes due jobs
    run_worker(env, "--queues", "notify")
    last = alert_cards(slack, "chat.update")[-1]
    assert last["metadata"]["event_payload"]["state"] == "silenced"
    assert "alert_silence" not in str(last["blocks"]) and "alert_rollback" not in str(last["blocks"])


def test_a_message_and_the_monitor_report_one_breach_once(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn, pagerduty: PagerDutyStandIn,
    health: HealthEndpoint,
) -> None:  # fmt: skip
    """The manual's line arrives first (suggest); the monitor then measures the breach itself and
    acts on the same alert (auto). A later line merges into it: one card, one incident.
    """
    with_checkpoint(ctx, env, repo, AUTO_HEALTH.format(url=health.url))
    ctx.redis.set(ctx.keys.alert_channel_id, "C0ALERTS")
    post_event(web, message(MANUAL_LINE), "Ev1")
    wait_for(lambda: get_queue("notify").count, 10, "the alert to be queued")
    run_worker(env, "--queues", "notify")
    (card,) = alert_cards(slack, "chat.postMessage")
    alert_id = card["metadata"]["event_payload"]["alert_id"]
    health.set(0.87)
    runbook = load_runbook(Path(env["RUNBOOK"]))
    for thread in monitor.poll_once(ctx, runbook, "golden_path", runbook.health["golden_path"]):
        thread.join(10)
    alert = ctx.alerts.get(alert_id)
    assert alert is not None and alert.confirmed and alert.mode == "auto" and alert.run_id is not None
    assert ctx.runs.get(alert.run_id).actor == "automation"
    post_event(web, message("CRITICAL: Golden Path health at 0.85% - Triggering rollback"), "Ev2")
    wait_for(lambda: ctx.alerts.get(alert_id).count == 2, 10, "the repeat to count")  # type: ignore[union-attr]
    run_worker(env, "--queues", "notify")
    assert len(alert_cards(slack, "chat.postMessage")) == 1
    assert {e["dedup_key"] for e in pagerduty.events("trigger")} == {alert.incident_key}
    assert len([r for r in ctx.runs.recent(10) if r.kind == "rollback"]) == 1


def test_the_monitors_breach_absorbs_a_later_message(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn, pagerduty: PagerDutyStandIn,
    health: HealthEndpoint,
) -> None:  # fmt: skip
    with_checkpoint(ctx, env, repo, AUTO_HEALTH.format(url=health.url))
    ctx.redis.set(ctx.keys.alert_channel_id, "C0ALERTS")
    health.set(0.87)
    runbook = load_runbook(Path(env["RUNBOOK"]))
    for thread in monitor.poll_once(ctx, runbook, "golden_path", runbook.health["golden_path"]):
        thread.join(10)
    post_event(web, message(MANUAL_LINE), "Ev1")
    post_event(web, message(MANUAL_LINE), "Ev2")
    fingerprint = ctx.keys.alert_fingerprint("rule:sandbox/manual-monitor:golden_path.success_rate")
    wait_for(lambda: ctx.alerts.get(text(ctx.redis.get(fingerprint) or "")), 10, "the message alert")
    wait_for(lambda: ctx.alerts.get(text(ctx.redis.get(fingerprint))).count == 2, 10, "the repeat")  # type: ignore[union-attr]
    run_worker(env, "--queues", "notify")
    (card,) = alert_cards(slack, "chat.postMessage")
    owner = ctx.alerts.get(card["metadata"]["event_payload"]["alert_id"])
    assert owner is not None and owner.origin == "monitor" and owner.count == 3
    assert len(pagerduty.events("trigger")) == 1
    assert len([r for r in ctx.runs.recent(10) if r.kind == "rollback"]) == 1


def test_a_repeat_soon_after_recovery_counts_and_a_later_recurrence_is_a_new_alert(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    with_checkpoint(ctx, env, repo, "")
    ctx.redis.set(ctx.keys.alert_channel_id, "C0ALERTS")
    post_event(web, message(MANUAL_LINE), "Ev1")
    wait_for(lambda: get_queue("notify").count, 10, "the alert to be queued")
    run_worker(env, "--queues", "notify")
    (card,) = alert_cards(slack, "chat.postMessage")
    first = card["metadata"]["event_payload"]["alert_id"]
    resolve_alert(ctx, first, "recovered")
    post_event(web, message(MANUAL_LINE), "Ev2")
    wait_for(lambda: ctx.alerts.get(first).count == 2, 10, "the repeat to count")  # type: ignore[union-attr]
    long_ago = ctx.clock() - timedelta(seconds=RECURRENCE_GRACE_SECONDS + 1)
    ctx.alerts.update(first, lambda a: setattr(a, "resolved_at", long_ago))
    post_event(web, message(MANUAL_LINE), "Ev3")
    claim = ctx.keys.alert_fingerprint("rule:sandbox/manual-monitor:golden_path.success_rate")
    wait_for(lambda: ctx.redis.get(claim) != first.encode(), 10, "a new alert for the recurrence")
    run_worker(env, "--queues", "notify")
    posted = [c["metadata"]["event_payload"]["alert_id"] for c in alert_cards(slack, "chat.postMessage")]
    assert len(posted) == 2 and posted[0] == first and ctx.alerts.get(posted[1]).state == "firing"  # type: ignore[union-attr]
    assert len(pagerduty.events("trigger")) == 2
