"""PagerDuty deliveries under retries and late events: PagerDuty's state wins, events apply in the
order they happened, refused events are said instead of resent, summaries fit. Real HTTPS stand-in.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs.context import Context
from jobs.core.redis_values import text
from jobs.factory import get_slack_client
from jobs.pagerduty.escalation import page_incident
from jobs.pagerduty.events import PagerDutyEvent, deliver, dispatch, new_event
from jobs.pagerduty.inbound import change_status, handle_webhook
from jobs.records.incidents import Incident
from jobs.runbook.loader import load_runbook
from jobs.slack.channel import learn
from jobs.tasks import deliver_pagerduty_event
from tests.conftest import LEAD, write_runbook
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.slack import SlackStandIn


def paged(
    ctx: Context, env: dict[str, str], repo: Path, summary: str = "sandbox: phase3 level1 rollback FAILED"
) -> str:
    """An incident paged through the stand-in, its card posted; returns its key."""
    write_runbook(Path(env["RUNBOOK"]), repo)
    key = f"rollbot-sandbox-{len(summary)}"
    for thread in page_incident(ctx, key, "sandbox", summary, {"run_id": "r1"}):
        thread.join(30)
    return key


def incident(ctx: Context, key: str) -> Incident:
    found = ctx.incidents.get(key)
    assert found is not None
    return found


def event(kind: str, at: str, pd_id: str, incident_key: str | None = None, title: str = "db down") -> dict[str, Any]:
    data: dict[str, Any] = {"id": pd_id, "type": "incident", "title": title, "html_url": f"https://pd/{pd_id}"}
    if incident_key:
        data["incident_key"] = incident_key
    return {"event": {"id": f"{kind}-{at}", "event_type": kind, "occurred_at": at, "data": data,
                      "agent": {"summary": "Tenex Engineer", "type": "user_reference"}}}  # fmt: skip


def thread_texts(slack: SlackStandIn) -> list[str]:
    return [str(c.params["text"]) for c in slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]


def test_a_late_acknowledge_never_reopens_what_pagerduty_resolved(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    key = paged(ctx, env, repo)
    pagerduty.set_status(key, "resolved")  # someone resolved it in PagerDuty; the webhook is not here yet

    after = change_status(ctx, key, LEAD, "acknowledged")  # an old card's button, or a retried job

    assert pagerduty.rest_calls("PUT") == []
    assert pagerduty.incidents[key]["status"] == "resolved"
    assert after.status == "resolved" and incident(ctx, key).status == "resolved"
    assert any("asked to acknowledge it, but PagerDuty had already resolved it: nothing changed" in t
               for t in thread_texts(slack))  # fmt: skip
    assert [c.path for c in pagerduty.rest_calls("GET")][-1] == f"/incidents/{pagerduty.incidents[key]['id']}"


def test_webhook_events_apply_in_the_order_they_happened(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    key = paged(ctx, env, repo)
    pd_id, title = pagerduty.incidents[key]["id"], pagerduty.incidents[key]["title"]

    resolved = event("incident.resolved", "2026-11-25T18:50:00.000Z", pd_id, key, title=title)
    assert handle_webhook(ctx, resolved) == "applied"
    # The acknowledgment of 18:45 arrives after the resolve of 18:50 (a redelivery, a retried job).
    late_ack = event("incident.acknowledged", "2026-11-25T18:45:00.000Z", pd_id, key, title=title)
    assert handle_webhook(ctx, late_ack) == "stale"
    current = incident(ctx, key)
    assert current.status == "resolved" and current.acknowledged_by is None
    assert current.last_event_at == datetime.fromisoformat("2026-11-25T18:50:00+00:00")
    assert "Resolved" in json.dumps(slack.calls_to("chat.update")[-1].params["blocks"])
    assert any("18:45 UTC · acknowledged by Tenex Engineer (an older event" in t for t in thread_texts(slack))

    # An event of an earlier PagerDuty incident under the same dedup key is older too.
    assert handle_webhook(ctx, event("incident.reopened", "2026-11-25T18:59:00.000Z", "POLD1", key)) == "stale"
    # A newer event applies; a note never changes the status, whenever it happened.
    assert handle_webhook(ctx, event("incident.reopened", "2026-11-25T18:55:00.000Z", pd_id, key)) == "applied"
    assert handle_webhook(ctx, event("incident.annotated", "2026-11-25T18:40:00.000Z", pd_id)) == "applied"
    assert incident(ctx, key).status == "triggered"

    # Resolved, then paged again: PagerDuty opens a new incident; the old one's events no longer apply.
    assert handle_webhook(ctx, event("incident.resolved", "2026-11-25T19:00:00.000Z", pd_id, key)) == "applied"
    pagerduty.set_status(key, "resolved")
    for thread in page_incident(ctx, key, "sandbox", "broken again", {}):
        thread.join(30)
    new_id = pagerduty.incidents[key]["id"]
    assert new_id != pd_id
    assert handle_webhook(ctx, event("incident.triggered", "2026-11-25T19:05:00.000Z", new_id, key)) == "applied"
    assert handle_webhook(ctx, event("incident.resolved", "2026-11-25T19:10:00.000Z", pd_id, key)) == "stale"
    assert incident(ctx, key).status == "triggered" and incident(ctx, key).pd_incident_id == new_id


def test_incidents_are_matched_by_id_or_dedup_key_never_by_their_title(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    key = paged(ctx, env, repo)
    title = pagerduty.incidents[key]["title"]
    assert title.endswith(f"[rollbot:{key}]")

    # Someone else's incident whose title quotes rollbot's tag (a copied title, a forwarded alert).
    copied = event("incident.acknowledged", "2026-11-25T18:45:00.000Z", "POTHER1", "someone-else", title=title)
    assert handle_webhook(ctx, copied) == "foreign"
    assert incident(ctx, key).status == "triggered" and incident(ctx, key).acknowledged_by is None

    # The dedup key in the event finds it; from then on PagerDuty's id does.
    pd_id = pagerduty.incidents[key]["id"]
    assert handle_webhook(ctx, event("incident.acknowledged", "2026-11-25T18:46:00.000Z", pd_id, key)) == "applied"
    assert incident(ctx, key).pd_incident_id == pd_id
    assert handle_webhook(ctx, event("incident.annotated", "2026-11-25T18:47:00.000Z", pd_id)) == "applied"
    assert incident(ctx, key).status == "acknowledged"


def test_an_event_pagerduty_refuses_is_said_in_the_channel_and_never_resent(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_events.append(400)  # "Invalid event": PagerDuty says not to retry it
    key = paged(ctx, env, repo)
    stored = [PagerDutyEvent.model_validate_json(ctx.redis.get(k) or b"")
              for k in ctx.redis.scan_iter(f"{ctx.keys.namespace}:pd-event:trigger-*")]  # fmt: skip
    assert len(stored) == 1 and stored[0].refused and "400" in stored[0].refused

    assert deliver_pagerduty_event(stored[0].id) == "delivered"  # the backstop job ends: nothing to retry
    assert deliver(ctx, stored[0].id)
    assert [r.status for r in pagerduty.received if r.path == "/v2/enqueue"] == [400]
    said = [str(c.params["text"]) for c in slack.calls_to("chat.postMessage")]
    assert sum("PagerDuty refused the page — escalate by phone" in t for t in said) == 1
    assert any("Primary: Lead Engineer" in t and "it is not sent again" in t for t in said)

    # A resolve PagerDuty refuses is said too; 429 and 5xx are retried until PagerDuty takes them.
    pagerduty.fail_events.append(404)
    dispatch(ctx, new_event(ctx, "resolve", incident_key=key, summary="fixed", source="sandbox")).join(30)
    assert any("PagerDuty refused the resolve of incident" in str(c.params["text"])
               for c in slack.calls_to("chat.postMessage"))  # fmt: skip
    pagerduty.fail_events.extend([429, 503])
    change = new_event(ctx, "trigger", incident_key="rollbot-other", summary="x", source="sandbox")
    dispatch(ctx, change).join(30)
    assert [r.status for r in pagerduty.received if r.path == "/v2/enqueue"][-3:] == [429, 503, 202]


def test_summaries_fit_pagerdutys_limit_keeping_the_tag_and_carry_the_events_time(
    ctx: Context, env: dict[str, str], repo: Path, pagerduty: PagerDutyStandIn
) -> None:
    before = ctx.clock()
    key = paged(ctx, env, repo, summary="sandbox: " + "very long failure detail " * 100)
    (trigger,) = pagerduty.events("trigger")
    summary = trigger["payload"]["summary"]
    assert len(summary) == 1024 and summary.endswith(f"… [rollbot:{key}]")
    sent_at = datetime.fromisoformat(trigger["payload"]["timestamp"])
    assert before <= sent_at <= ctx.clock()

    dispatch(ctx, new_event(ctx, "change", summary="Rollback started: " + "x" * 2000, source="sandbox")).join(30)
    assert len(pagerduty.change_events()[-1]["payload"]["summary"]) == 1024


def test_the_alert_channel_is_found_on_a_later_page_of_conversations_list(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo)
    path.write_text(path.read_text().replace("#critical-alerts", "#far-away"))
    slack.extra_channels.extend({"id": f"C{n:07d}", "name": f"team-{n}"} for n in range(1500))
    slack.extra_channels.append({"id": "C0FARAWAY", "name": "far-away"})

    assert learn(ctx, load_runbook(path), get_slack_client()) == "C0FARAWAY"
    limits = [int(c.params["limit"]) for c in slack.calls_to("conversations.list", ok_only=False)]
    assert limits and all(limit < 1000 for limit in limits) and len(limits) == 2
    assert text(ctx.redis.get(ctx.keys.alert_channel_id)) == "C0FARAWAY"
