"""Acknowledgments in: the incident card's buttons and PagerDuty v3 webhooks, over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx

from jobs.context import Context
from jobs.core.ids import ActionId
from tests.conftest import LEAD, PD_FROM, PD_WEBHOOK_SECRETS, STRANGER, run_worker
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.slack import SlackStandIn
from tests.support.runs import phase3, rollback
from tests.support.slack import cards, click


def paged_incident(ctx: Context, env: dict[str, str], repo: Path) -> str:
    """A failed phase3 rollback that paged; returns the incident key."""
    failed = rollback(ctx, phase3(ctx, env, repo))
    run_worker(env)
    return ctx.runs.get(failed.run_id).incident_key or ""


def test_acknowledge_from_slack_goes_through_the_rest_api_as_the_clicking_person(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    key = paged_incident(ctx, env, repo)
    slack.user_emails[LEAD] = "lead@example.com"
    pagerduty.users.append({"id": "PLEAD01", "email": "lead@example.com", "name": "Team Lead"})

    click(web, slack, ActionId.PD_ACKNOWLEDGE, key, user=LEAD)
    slack.wait_for(lambda calls: any("Marking it acknowledged" in str(c.params.get("text")) for c in calls))
    run_worker(env)

    puts = pagerduty.rest_calls("PUT")
    assert len(puts) == 1
    assert puts[0].path == f"/incidents/{pagerduty.incidents[key]['id']}"
    assert puts[0].headers["From"] == "lead@example.com"
    assert puts[0].body["incident"]["status"] == "acknowledged"
    assert pagerduty.incidents[key]["status"] == "acknowledged"
    card = json.dumps(cards(slack)[-1]["blocks"])
    assert "Acknowledged by <@U0LEAD> (lead@example.com)" in card
    assert "pd_acknowledge" not in card  # no second Acknowledge once someone owns it

    click(web, slack, ActionId.STAKEHOLDERS_NOTIFIED, key, user=LEAD)
    slack.wait_for(lambda calls: any("The reminder will not fire" in str(c.params.get("text")) for c in calls))
    run_worker(env)
    assert "stakeholders notified by <@U0LEAD>" in json.dumps(cards(slack)[-1]["blocks"])

    # Someone whose e-mail is not a PagerDuty user acts as PAGERDUTY_FROM_EMAIL; a stranger not at all.
    click(web, slack, ActionId.PD_RESOLVE, key, user="U0ONCALL")
    click(web, slack, ActionId.PD_RESOLVE, key, user=STRANGER)
    slack.wait_for(lambda calls: any("requires the `operator` role" in str(c.params.get("text")) for c in calls))
    run_worker(env)
    puts = pagerduty.rest_calls("PUT")
    assert len(puts) == 2 and puts[1].headers["From"] == PD_FROM
    assert ctx.incidents.get(key).status == "resolved"  # type: ignore[union-attr]


def signed(body: bytes, *secrets: str) -> dict[str, str]:
    signatures = ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)
    return {"X-PagerDuty-Signature": signatures, "Content-Type": "application/json"}


def webhook(event_id: str, kind: str, pd_id: str, title: str, agent: str = "Tenex Engineer") -> bytes:
    return json.dumps({"event": {
        "id": event_id, "event_type": kind, "resource_type": "incident", "occurred_at": "2026-11-25T18:45:22.169Z",
        "agent": {"summary": agent, "type": "user_reference"}, "client": {"name": "PagerDuty"},
        "data": {"id": pd_id, "type": "incident", "title": title, "status": "acknowledged",
                 "html_url": f"https://acme.pagerduty.com/incidents/{pd_id}",
                 "assignees": [{"summary": agent, "type": "user_reference"}]},
    }}).encode()  # fmt: skip


def test_webhooks_are_verified_applied_once_and_shown(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    key = paged_incident(ctx, env, repo)
    pd_incident = pagerduty.incidents[key]
    url = f"{web}/pagerduty/webhook"
    body = webhook("evt-1", "incident.acknowledged", pd_incident["id"], pd_incident["title"])
    slack_calls = len(slack.calls)

    assert httpx.post(url, content=body, headers=signed(body, "not-the-secret"), timeout=5).status_code == 401
    assert httpx.post(url, content=body, timeout=5).status_code == 401  # no signature header
    odd = {b"X-PagerDuty-Signature": "v1=ünïcödé".encode()}  # not ASCII: still a 401, never a 500
    assert httpx.post(url, content=body, headers=odd, timeout=5).status_code == 401
    tampered = body.replace(b"Tenex Engineer", b"Someone Else")
    assert httpx.post(url, content=tampered, headers=signed(body, PD_WEBHOOK_SECRETS[0]), timeout=5).status_code == 401
    run_worker(env)
    # Nothing of the refused webhooks reached Slack (the failed rollback's own late deliveries may).
    late = [str(c.params) for c in slack.calls[slack_calls:]]
    assert not [c for c in late if "Tenex Engineer" in c or "Someone Else" in c]

    # A rotation: PagerDuty signs with the old and the new secret; either one matching is enough.
    for _ in range(2):  # a redelivery of the same event.id
        answer = httpx.post(url, content=body, headers=signed(body, "retired", PD_WEBHOOK_SECRETS[1]), timeout=5)
        assert answer.status_code in (200, 202)
    assert httpx.post(url, content=b"{not json", headers=signed(b"{not json", PD_WEBHOOK_SECRETS[0]),
                      timeout=5).status_code == 400  # fmt: skip
    unknown = json.dumps({"event": {"id": "evt-9", "event_type": "service.updated", "data": {}}}).encode()
    assert httpx.post(url, content=unknown, headers=signed(unknown, PD_WEBHOOK_SECRETS[0]), timeout=5).json() == {
        "status": "ignored", "event_type": "service.updated"}  # fmt: skip
    run_worker(env)

    updates = [c for c in cards(slack) if c.get("ts")]
    assert len(updates) == 1  # the card updated once, for the one event
    assert "Acknowledged by Tenex Engineer" in json.dumps(updates[0]["blocks"])
    lines = [
        c.params["text"]
        for c in slack.calls_to("chat.postMessage")
        if "acknowledged by Tenex Engineer" in c.params["text"]
    ]
    assert lines == ["18:45 UTC · acknowledged by Tenex Engineer"]

    # An incident rollbot did not open is still shown, briefly.
    foreign = webhook("evt-2", "incident.triggered", "PFOREIGN", "Database on fire")
    httpx.post(url, content=foreign, headers=signed(foreign, PD_WEBHOOK_SECRETS[0]), timeout=5)
    run_worker(env)
    assert any(c.params["text"] == "PagerDuty: Database on fire — triggered by Tenex Engineer at 18:45 UTC"
               for c in slack.calls_to("chat.postMessage"))  # fmt: skip
