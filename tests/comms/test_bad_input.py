"""Bad input and outages on the communication clocks: an address the SMTP server refuses, SMTP
down at the deadline, a Statuspage 422, a GitHub 404; each said in the thread (or channel),
audited, and nothing else lost. Also the executive escalation and Phase 1 blockers that go through.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from jobs import tasks
from jobs.context import Context
from jobs.core.exceptions import MailError, ServiceRefused
from jobs.core.ids import ActionId
from tests.comms.conftest import EXECUTIVE_KEY
from tests.conftest import LEAD, run_worker
from tests.standins.github import GitHubStandIn
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import button_value, signed_post
from tests.standins.slack import SlackStandIn
from tests.standins.smtp import SmtpStandIn
from tests.standins.statuspage import StatuspageStandIn
from tests.support.comms import NEW_BUSINESS, PM, audit_entries, comms_runbook, thread_texts
from tests.support.runs import rollback
from tests.support.slack import cards, click, slash

BAD = "nobody@example.com"
CEO = "ceo@example.com"


def failed_incident(ctx: Context, env: dict[str, str], path: Path) -> str:
    failed = rollback(ctx, path)
    run_worker(env)
    return ctx.runs.get(failed.run_id).incident_key or ""


def test_a_refused_address_is_said_and_audited_and_the_others_still_get_it(
    comms_env: dict[str, str], ctx: Context, repo: Path, slack: SlackStandIn, smtp: SmtpStandIn
) -> None:
    business = NEW_BUSINESS + f"    - {{name: Nobody, email: {BAD}}}\n"
    key = failed_incident(ctx, comms_env, comms_runbook(ctx, comms_env, repo, "auto_send: true", business))
    smtp.refuse.add(BAD)

    assert tasks.send_stakeholder_mail(key, LEAD) == "sent"
    assert tasks.send_stakeholder_mail(key, LEAD) == "already sent"  # a second click sends nothing
    assert [r.recipients for r in smtp.received] == [[PM]]
    assert any(f"refused {BAD}" in t for t in thread_texts(slack))
    assert [e["result"] for e in audit_entries(ctx, "stakeholders.email")] == ["refused", "sent"]
    incident = ctx.incidents.get(key)
    assert (
        incident is not None and incident.stakeholder_mail is not None and incident.stakeholder_mail.recipients == [PM]
    )
    assert incident.stakeholders_notified_by == LEAD
    assert "stakeholders notified by <@U0LEAD> (e-mailed to 1)" in json.dumps(cards(slack)[-1]["blocks"])


def test_smtp_down_at_the_deadline_says_whom_to_call_reminds_and_sends_once_it_is_back(
    comms_env: dict[str, str], ctx: Context, repo: Path, slack: SlackStandIn, smtp: SmtpStandIn
) -> None:
    key = failed_incident(ctx, comms_env, comms_runbook(ctx, comms_env, repo, "auto_send: true"))
    smtp.stop()

    assert tasks.remind_stakeholders(key) == "SMTP down: retrying"
    down = [t for t in thread_texts(slack) if "E-mail cannot be sent right now" in t]
    assert len(down) == 1 and "Primary: Product Manager <pm@example.com>" in down[0]
    assert any("have not been notified" in str(c.params.get("text")) for c in slack.calls_to("chat.postMessage"))
    with pytest.raises(MailError):
        tasks.send_stakeholder_mail(key, "rollbot")  # the retried job, still down
    assert len([t for t in thread_texts(slack) if "E-mail cannot be sent right now" in t]) == 1  # said once

    smtp.start()
    assert tasks.send_stakeholder_mail(key, "rollbot") == "sent"
    assert [r.recipients for r in smtp.received] == [[PM]]
    assert "smtp_down" in [e["result"] for e in audit_entries(ctx, "stakeholders.email")]


def test_a_statuspage_422_is_said_and_audited_and_publishing_again_works(
    comms_env: dict[str, str], ctx: Context, repo: Path, slack: SlackStandIn, statuspage: StatuspageStandIn
) -> None:
    key = failed_incident(ctx, comms_env, comms_runbook(ctx, comms_env, repo, "customer_facing: true"))
    statuspage.fail_next.append(422)

    assert tasks.publish_statuspage(key, LEAD) == "refused"  # said once, not retried
    assert any("Statuspage refused it" in t and "422" in t for t in thread_texts(slack))
    assert [e["result"] for e in audit_entries(ctx, "statuspage.publish")] == ["failed"]
    assert statuspage.incidents == {}

    statuspage.fail_next.append(503)
    with pytest.raises(ServiceRefused):  # a server error: the job is retried
        tasks.publish_statuspage(key, LEAD)
    assert tasks.publish_statuspage(key, LEAD) == "published"
    assert tasks.publish_statuspage(key, LEAD) == "already published"
    assert len(statuspage.incidents) == 1
    incident = ctx.incidents.get(key)
    assert incident is not None and incident.statuspage_id in statuspage.incidents

    # Resolved: the resolution is offered, and publishing it PATCHes the status page incident.
    ctx.incidents.update(key, lambda i: setattr(i, "status", "resolved"))
    assert tasks.offer_statuspage_resolution(key) == "posted"
    assert tasks.offer_statuspage_resolution(key) == "not needed"
    assert tasks.publish_statuspage(f"resolve:{key}", LEAD) == "published"
    assert statuspage.incidents[incident.statuspage_id or ""]["status"] == "resolved"
    assert [r[0] for r in statuspage.requests] == ["POST", "POST", "POST", "PATCH"]
    assert [e["result"] for e in audit_entries(ctx, "statuspage.publish")] == ["failed", "failed", "published",
                                                                                "published"]  # fmt: skip


def test_the_executive_clock_mails_and_pages_the_executives_once(
    comms_env: dict[str, str], ctx: Context, repo: Path, slack: SlackStandIn, smtp: SmtpStandIn,
    pagerduty: PagerDutyStandIn,
) -> None:  # fmt: skip
    path = comms_runbook(ctx, comms_env, repo, "customer_facing: true")
    old = '  executive: ["Critical: CEO (for customer-facing outages >30 minutes)"]\n'
    path.write_text(path.read_text().replace(old, f"  executive: [{{name: CEO, email: {CEO}}}]\n"))
    key = failed_incident(ctx, comms_env, path)

    assert tasks.executive_due(key) == "notified"
    assert tasks.executive_due(key) == "already notified"
    assert [r.recipients for r in smtp.messages_to(CEO)] == [[CEO]]
    executive = [e for e in pagerduty.events("trigger") if e["routing_key"] == EXECUTIVE_KEY]
    assert len(executive) == 1 and executive[0]["dedup_key"] == f"{key}-executive"
    assert any("Executive escalation" in t for t in thread_texts(slack))
    assert "executives notified at" in json.dumps(cards(slack)[-1]["blocks"])
    assert [e["result"] for e in audit_entries(ctx, "executive.escalate")] == ["notified"]


def test_phase1_blockers_go_to_the_tracking_issue_and_a_404_is_said_with_the_findings_kept(
    comms_env: dict[str, str], ctx: Context, repo: Path, slack: SlackStandIn, smtp: SmtpStandIn,
    github: GitHubStandIn,
) -> None:  # fmt: skip
    path = comms_runbook(ctx, comms_env, repo, "auto_send: true")
    path.write_text(path.read_text() + "tracking_issue: acme/app#999\n")

    assert (
        tasks.document_phase1_blockers("sandbox", LEAD, "The registry cannot be split.", [0]) == "said in the channel"
    )
    posts = [str(c.params.get("text")) for c in slack.calls_to("chat.postMessage")]
    said = [p for p in posts if "could not be posted on GitHub" in p]
    assert len(said) == 1 and "404" in said[0] and "The registry cannot be split." in said[0]
    assert "[x] Major architectural incompatibility discovered" in said[0]
    assert github.comments == {}

    path.write_text(path.read_text().replace("acme/app#999", "acme/app#234"))
    assert tasks.document_phase1_blockers("sandbox", LEAD, "The registry cannot be split.", []) == "commented"
    [comment] = github.comments["acme/app#234"]
    assert "The registry cannot be split." in comment["body"] and "[ ] Major architectural" in comment["body"]
    assert [e["result"] for e in audit_entries(ctx, "phase1.blockers")] == ["failed", "commented"]
    review = [r for r in smtp.messages_to(PM) if "Stakeholder review required" in str(r.message["Subject"])]
    assert len(review) == 2  # told both times: the review does not depend on GitHub


def view_submission(view: dict[str, object], user: str) -> str:
    payload = {"type": "view_submission", "team": {"id": "T0TEST", "domain": "test"},
               "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"}, "api_app_id": "A0ROLLBOT",
               "token": "legacy", "trigger_id": "1.2.3", "view": view}  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def test_rollback_phase1_shows_the_stop_criteria_and_the_modal_documents_blockers(
    comms_env: dict[str, str], ctx: Context, repo: Path, web: str, slack: SlackStandIn, github: GitHubStandIn
) -> None:
    path = comms_runbook(ctx, comms_env, repo, "auto_send: true")
    path.write_text(path.read_text() + "tracking_issue: acme/app#234\n")

    answer = slash(web, slack, "/rollback", "phase1", user=LEAD)
    assert "analysis-only" in answer["text"]
    assert button_value(answer["blocks"], ActionId.PHASE1_BLOCKERS) == "sandbox/phase1"
    assert "☐ Major architectural incompatibility discovered" in json.dumps(answer["blocks"], ensure_ascii=False)

    click(web, slack, ActionId.PHASE1_BLOCKERS, "sandbox/phase1", user=LEAD)
    [opened] = slack.wait_for(lambda calls: any(c.method == "views.open" for c in calls)) and slack.calls_to(
        "views.open"
    )
    view = opened.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "phase1_blockers" and view["private_metadata"] == "sandbox/phase1"
    view["state"] = {"values": {
        "criteria": {"criteria_ticked": {"type": "checkboxes", "selected_options": [{"value": "0"}]}},
        "findings": {"findings_text": {"type": "plain_text_input", "value": "Circular imports everywhere."}},
    }}  # fmt: skip
    response = signed_post(f"{web}/slack/events", view_submission(view, LEAD))
    assert response.status_code == 200, response.text
    run_worker(comms_env)

    [comment] = github.comments["acme/app#234"]
    assert "Circular imports everywhere." in comment["body"] and "[x] Major architectural" in comment["body"]
    assert [e["result"] for e in audit_entries(ctx, "phase1.blockers")] == ["commented"]


def test_without_auto_send_the_deadline_only_reminds(
    comms_env: dict[str, str], ctx: Context, repo: Path, slack: SlackStandIn, smtp: SmtpStandIn
) -> None:
    key = failed_incident(ctx, comms_env, comms_runbook(ctx, comms_env, repo, "auto_send: false"))
    assert tasks.remind_stakeholders(key) == "posted"
    reminder = [
        str(c.params.get("text"))
        for c in slack.calls_to("chat.postMessage")
        if "have not been notified" in str(c.params.get("text"))
    ]
    assert len(reminder) == 1 and "Primary: Product Manager <pm@example.com>" in reminder[0]
    assert smtp.received == []


def test_the_new_secrets_are_redacted(comms_env: dict[str, str], ctx: Context) -> None:
    secrets = ctx.settings.secret_values()
    for name in ("SMTP_PASSWORD", "STATUSPAGE_API_KEY", "GITHUB_TOKEN", "PAGERDUTY_EXECUTIVE_ROUTING_KEY"):
        assert comms_env[name] in secrets
        assert comms_env[name] not in ctx.redactor(f"leaked {comms_env[name]}")
    assert comms_env["SMTP_PASSWORD"] not in repr(ctx.settings)
