"""PagerDuty escalations out of real runs on real workers, against the HTTPS PagerDuty stand-in."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from rq.registry import ScheduledJobRegistry

from jobs.context import Context
from jobs.factory import get_queue
from jobs.pagerduty.escalation import stakeholders_notified
from jobs.pagerduty.events import BACKSTOP_DELAY, reminder_job_id
from jobs.tasks import remind_stakeholders
from tests.conftest import ONCALL, run_worker
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.slack import SlackStandIn
from tests.support.runs import FAILING_DEPLOY, phase3, rollback
from tests.support.scheduled import make_due, scheduled_ids
from tests.support.slack import cards


def test_failed_rollback_pages_once_and_its_successful_retry_resolves(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    path = phase3(ctx, env, repo)
    failed = rollback(ctx, path)
    run_worker(env)

    record = ctx.runs.get(failed.run_id)
    assert record.status == "failed" and record.incident_key == f"rollbot-sandbox-{failed.run_id}"
    triggers = pagerduty.events("trigger")
    assert len(triggers) == 1
    trigger = triggers[0]
    assert trigger["routing_key"] == env["PAGERDUTY_ROUTING_KEY"] and trigger["dedup_key"] == record.incident_key
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "sandbox"
    assert payload["summary"].endswith(f"[rollbot:{record.incident_key}]") and "FAILED" in payload["summary"]
    assert payload["custom_details"].items() >= {
        "run_id": failed.run_id, "phase": "phase3", "level": "level1", "status": "failed",
        "failing_step": "Emergency staging deployment", "budget": "15m", "requester": ONCALL,
    }.items()  # fmt: skip
    assert payload["custom_details"]["elapsed"]
    assert trigger["links"][0]["href"].startswith("https://slack.example/archives/C0ALERTS/")
    card = cards(slack)[-1]
    assert "Acknowledge" in json.dumps(card["blocks"]) and "Stakeholders notified" in json.dumps(card["blocks"])

    # Fix the deploy, retry: the same incident is resolved.
    path.write_text(path.read_text().replace(FAILING_DEPLOY, "echo deployed"))
    retried = rollback(ctx, path, parent=record)
    run_worker(env)

    assert ctx.runs.get(retried.run_id).status == "succeeded"
    assert ctx.runs.get(retried.run_id).incident_key == record.incident_key
    assert [e["dedup_key"] for e in pagerduty.events("resolve")] == [record.incident_key]
    assert len(pagerduty.events("trigger")) == 1
    changes = [c["payload"]["summary"] for c in pagerduty.change_events()]
    assert sorted(changes) == sorted([
        "Rollback started: sandbox phase3 level1", "Rollback finished (failed): sandbox phase3 level1",
        "Rollback started: sandbox phase3 level1", "Rollback finished (succeeded): sandbox phase3 level1",
    ])  # fmt: skip
    assert all(c["payload"]["timestamp"] for c in pagerduty.change_events())
    incident = ctx.incidents.get(record.incident_key or "")
    assert incident is not None and incident.status == "resolved"
    assert "Resolved" in json.dumps(cards(slack)[-1]["blocks"])

    reminders = ScheduledJobRegistry(queue=get_queue("notify")).get_job_ids()
    assert reminder_job_id(ctx, record.incident_key or "") not in reminders  # resolved: no reminder

    # It breaks again later: PagerDuty opens a new incident, and rollbot follows that one.
    path.write_text(path.read_text().replace("echo deployed", FAILING_DEPLOY))
    again = rollback(ctx, path, parent=ctx.runs.get(retried.run_id))
    run_worker(env)
    assert ctx.runs.get(again.run_id).status == "failed"
    assert len(pagerduty.events("trigger")) == 2 and len(pagerduty.resolved) == 1
    reopened = ctx.incidents.get(record.incident_key or "")
    assert reopened is not None and reopened.status == "triggered" and reopened.run_id == again.run_id
    assert "Resolved" not in json.dumps(cards(slack)[-1]["blocks"])
    assert (
        reminder_job_id(ctx, record.incident_key or "") in ScheduledJobRegistry(queue=get_queue("notify")).get_job_ids()
    )


def test_pagerduty_failing_three_times_then_accepting_pages_once_and_says_so_late(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    path = phase3(ctx, env, repo)
    pagerduty.fail_events.extend([500, 500, 500])  # the first attempt (the client tries 3 times) fails
    failed = rollback(ctx, path)
    run_worker(env)

    phone = [
        c.params["text"] for c in slack.calls_to("chat.postMessage") if "Could not page PagerDuty" in c.params["text"]
    ]
    assert len(phone) == 1
    assert "Primary: Lead Engineer (on-call rotation)" in phone[0] and "Tertiary: CTO" in phone[0]
    assert pagerduty.fail_events == []  # all three 500s were answered
    assert [r.status for r in pagerduty.received if r.path == "/v2/enqueue"] == [500, 500, 500]
    # The retried backstop delivery is due 5 s after the first attempt (made due now, not waited for).
    (backstop,) = [job for job in scheduled_ids(ctx, "notify") if job.startswith(ctx.keys.job("pd", "trigger-"))]
    ended_at = ctx.runs.get(failed.run_id).ended_at
    assert ended_at is not None
    make_due(ctx, "notify", backstop, after=ended_at, delay=BACKSTOP_DELAY)
    run_worker(env)

    record = ctx.runs.get(failed.run_id)
    assert [r.status for r in pagerduty.received if r.path == "/v2/enqueue"] == [500, 500, 500, 202]
    assert len(pagerduty.incidents) == 1 and record.incident_key in pagerduty.incidents
    assert len(pagerduty.events("trigger")) == 1
    late = [c.params["text"] for c in slack.calls_to("chat.postMessage") if "delivered late" in c.params["text"]]
    assert len(late) == 1 and "PagerDuty paged after all" in late[0]
    incident = ctx.incidents.get(record.incident_key or "")
    assert incident is not None and incident.status == "triggered" and incident.paged_at is not None


def test_unconfigured_pagerduty_says_escalate_by_phone(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    path = phase3(ctx, env, repo)
    rollback(ctx, path)
    run_worker({**env, "PAGERDUTY_ROUTING_KEY": ""})
    phone = [
        c.params["text"] for c in slack.calls_to("chat.postMessage") if "Could not page PagerDuty" in c.params["text"]
    ]
    assert len(phone) == 1 and "PAGERDUTY_ROUTING_KEY is not set" in phone[0]
    assert "Primary: Lead Engineer (on-call rotation)" in phone[0]
    assert pagerduty.events() == []


def test_business_reminder_at_fifteen_minutes_unless_stakeholders_were_notified(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    path = phase3(ctx, env, repo)
    failed = rollback(ctx, path)
    run_worker(env)
    key = ctx.runs.get(failed.run_id).incident_key or ""
    incident = ctx.incidents.get(key)
    assert incident is not None

    registry = ScheduledJobRegistry(queue=get_queue("notify"))
    assert reminder_job_id(ctx, key) in registry.get_job_ids()
    due = registry.get_scheduled_time(reminder_job_id(ctx, key))
    assert abs(due - (incident.opened_at + timedelta(minutes=15))) < timedelta(seconds=2)

    # The scheduler fires it (here: its job body, without waiting 15 minutes).
    assert remind_stakeholders(key) == "posted"
    reminder = [c.params["text"] for c in slack.calls_to("chat.postMessage") if "stakeholders" in c.params["text"]][-1]
    assert "Primary: Product Manager" in reminder and "Secondary: VP Engineering" in reminder
    assert "over 30m: Critical: CEO" in reminder and "Stakeholders notified" in reminder

    stakeholders_notified(ctx, key, "U0LEAD")
    assert reminder_job_id(ctx, key) not in registry.get_job_ids()
    posts = len(slack.calls_to("chat.postMessage"))
    assert remind_stakeholders(key) == "not needed"
    assert len(slack.calls_to("chat.postMessage")) == posts
    assert "stakeholders notified by <@U0LEAD>" in json.dumps(cards(slack)[-1]["blocks"])
