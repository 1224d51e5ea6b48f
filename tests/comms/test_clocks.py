"""The communication clocks against real stand-ins: the business e-mail at the deadline (SMTP with
STARTTLS), the status page draft and *Publish* (HTTPS Statuspage), bad input said and audited.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs import report
from jobs.context import Context
from jobs.core.ids import ActionId
from tests.conftest import LEAD, start_worker, stop_worker, wait_for
from tests.standins.signed import button_value, has_button
from tests.standins.slack import SlackStandIn
from tests.standins.smtp import SmtpStandIn
from tests.standins.statuspage import StatuspageStandIn
from tests.support.comms import PM, audit_entries, comms_runbook, thread_texts
from tests.support.runs import rollback
from tests.support.slack import cards, click


def posted_blocks(slack: SlackStandIn, action: ActionId) -> list[dict[str, Any]]:
    for call in reversed(slack.calls_to("chat.postMessage")):
        found = call.params.get("blocks") or []
        found = json.loads(found) if isinstance(found, str) else found
        if has_button(found, action):
            return list(found)
    return []


def test_business_email_goes_out_by_itself_at_the_deadline_once_and_the_card_says_so(
    comms_env: dict[str, str], ctx: Context, repo: Path, slack: SlackStandIn, smtp: SmtpStandIn
) -> None:
    path = comms_runbook(ctx, comms_env, repo, "stakeholders_within: 3s")
    failed = rollback(ctx, path)
    worker = start_worker(comms_env)
    try:
        key = wait_for(lambda: ctx.runs.get(failed.run_id).incident_key, timeout=60, message="the incident")
        incident = wait_for(lambda: ctx.incidents.get(key), message="the incident record")
        received = wait_for(lambda: smtp.messages_to(PM), timeout=30, message="the business e-mail")
        took = (datetime.now(UTC) - incident.opened_at).total_seconds()
        assert took < 10, f"the e-mail came {took:.1f}s after the incident opened"
        wait_for(lambda: "stakeholders notified by `rollbot`" in json.dumps(cards(slack)[-1]["blocks"]),
                 message="the card to say stakeholders were notified")  # fmt: skip
        time.sleep(2)  # nothing more comes
    finally:
        stop_worker(worker)

    assert len(smtp.received) == 1 and received[0].recipients == [PM] and smtp.tls_seen
    message = received[0].message
    assert message["From"] == "rollbot@example.com" and "[Incident] sandbox" in message["Subject"]
    body = message.get_payload()
    assert "Since:" in str(body) and "Next update: by" in str(body) and "Incident link:" in str(body)
    stored = ctx.incidents.get(key)
    assert stored is not None and stored.stakeholder_mail is not None
    assert stored.stakeholder_mail.recipients == [PM] and stored.stakeholder_mail.by == "rollbot"
    assert stored.stakeholder_mail.message_id == message["Message-ID"]
    assert any("Business stakeholder notification" in t for t in thread_texts(slack))  # the draft, with Send now
    assert has_button(posted_blocks(slack, ActionId.STAKEHOLDERS_SEND), ActionId.STAKEHOLDERS_SEND)
    assert not any("have not been notified" in str(c.params.get("text")) for c in slack.calls_to("chat.postMessage"))
    summary = report.build_report(ctx, failed.run_id, None).split("## Timeline", 1)[0]
    assert "stakeholders e-mailed" in summary and PM in summary and stored.stakeholder_mail.message_id in summary
    assert [e["result"] for e in audit_entries(ctx, "stakeholders.email")] == ["sent"]


def test_a_customer_facing_incident_offers_the_status_page_and_publish_creates_one_incident(
    comms_env: dict[str, str], ctx: Context, repo: Path, web: str, slack: SlackStandIn, statuspage: StatuspageStandIn
) -> None:
    path = comms_runbook(ctx, comms_env, repo, "customer_facing: true\nstatus_page_after: 2s")
    path.write_text(path.read_text() + "status_page: {component_id: cmp0001}\n")
    failed = rollback(ctx, path)
    worker = start_worker(comms_env)
    try:
        draft = wait_for(lambda: posted_blocks(slack, ActionId.STATUSPAGE_PUBLISH), timeout=60,
                         message="the status page draft with Publish")  # fmt: skip
        key = ctx.runs.get(failed.run_id).incident_key or ""
        assert button_value(draft, ActionId.STATUSPAGE_PUBLISH) == key
        assert "customer-facing" in json.dumps(cards(slack)[-1]["blocks"])
        click(web, slack, ActionId.STATUSPAGE_PUBLISH, key, user=LEAD)
        click(web, slack, ActionId.STATUSPAGE_PUBLISH, key, user=LEAD)  # a double click publishes once
        wait_for(lambda: statuspage.incidents, message="the status page incident")
        wait_for(lambda: any("Status page incident published" in t for t in thread_texts(slack)),
                 message="the thread to say it was published")  # fmt: skip
        time.sleep(1)
    finally:
        stop_worker(worker)

    assert len(statuspage.incidents) == 1
    created = next(iter(statuspage.incidents.values()))
    assert created["status"] == "investigating" and created["component_ids"] == ["cmp0001"]
    assert [r[0] for r in statuspage.requests] == ["POST"]
    stored = ctx.incidents.get(key)
    assert stored is not None and stored.statuspage_id == created["id"] and stored.customer_facing_by == "runbook"
    assert audit_entries(ctx, "statuspage.publish")


def test_customer_facing_and_send_now_clicked_on_the_card_act_at_once_and_once(
    comms_env: dict[str, str], ctx: Context, repo: Path, web: str, slack: SlackStandIn, smtp: SmtpStandIn
) -> None:
    path = comms_runbook(ctx, comms_env, repo, "status_page_after: 1s\nauto_send: false")
    failed = rollback(ctx, path)
    worker = start_worker(comms_env)
    try:
        draft = wait_for(lambda: posted_blocks(slack, ActionId.STAKEHOLDERS_SEND), timeout=60, message="the draft")
        key = button_value(draft, ActionId.STAKEHOLDERS_SEND)
        assert key == ctx.runs.get(failed.run_id).incident_key
        assert "not sent by itself" in json.dumps(draft)  # auto_send: false
        time.sleep(2)  # the status page clock has gone off: not customer-facing yet, nothing posted
        assert posted_blocks(slack, ActionId.STATUSPAGE_PUBLISH) == []
        assert has_button(cards(slack)[-1]["blocks"], ActionId.INCIDENT_CUSTOMER_FACING)  # type: ignore[arg-type]

        click(web, slack, ActionId.INCIDENT_CUSTOMER_FACING, key, user=LEAD)
        wait_for(lambda: posted_blocks(slack, ActionId.STATUSPAGE_PUBLISH), message="the status page draft")
        card = json.dumps(cards(slack)[-1]["blocks"])
        assert "*customer-facing* (<@U0LEAD>)" in card and "incident_customer_facing" not in card

        click(web, slack, ActionId.STAKEHOLDERS_SEND, key, user=LEAD)
        click(web, slack, ActionId.STAKEHOLDERS_SEND, key, user=LEAD)  # racing clicks send one mail
        wait_for(lambda: smtp.messages_to(PM), message="the e-mail")
        wait_for(lambda: "stakeholders notified by <@U0LEAD> (e-mailed to 1)" in json.dumps(cards(slack)[-1]["blocks"]),
                 message="the card to say who notified them")  # fmt: skip
        time.sleep(1)
    finally:
        stop_worker(worker)

    assert len(smtp.received) == 1
    incident = ctx.incidents.get(key)
    assert incident is not None and incident.customer_facing_by == LEAD and incident.stakeholder_mail is not None
    assert incident.stakeholder_mail.by == LEAD
    assert [e["actor"] for e in audit_entries(ctx, "incident.customer_facing")] == [LEAD]
