"""PagerDuty incident cards and their texts (jobs.blocks.incident_card, stakeholder_reminder,
phone_escalation, delivered_late): buttons by status, metadata, the stakeholder clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.core.ids import ActionId
from jobs.records.incidents import IncidentStatus
from jobs.runbook.model import Escalation
from jobs.slack.blocks import delivered_late, incident_card, phone_escalation, stakeholder_reminder
from tests.unit.builders import T0, action_ids, all_text, buttons, incident, metadata_of, runbook, valid_blocks


@pytest.mark.parametrize("status", ["pending", "triggered", "acknowledged", "resolved"])
def test_every_status_renders_valid_blocks_and_incident_metadata(status: IncidentStatus) -> None:
    case = incident(status=status, acknowledged_by="Alice", resolved_by="Bob")
    text, blocks, metadata = incident_card(case, Escalation())
    valid_blocks(blocks)
    assert text.startswith("PagerDuty incident: Rollback phase3 level1 FAILED — ")
    event_type, payload = metadata_of(metadata)
    assert event_type == "rollbot_incident"
    assert payload == {"incident_key": case.key, "run_id": case.run_id, "status": status}


def test_an_open_unacknowledged_incident_offers_all_three_buttons() -> None:
    _, blocks, _ = incident_card(incident(), Escalation())
    assert action_ids(blocks) == [ActionId.PD_ACKNOWLEDGE, ActionId.PD_RESOLVE, ActionId.STAKEHOLDERS_NOTIFIED,
                                  ActionId.INCIDENT_CUSTOMER_FACING]  # fmt: skip
    assert {b["value"] for b in buttons(blocks).values()} == {"rollbot-billing-rb-20261125-174233-3fa2"}
    shown = all_text(blocks)
    assert "🔔 Paged — *nobody has acknowledged it yet*" in shown
    due = int(T0.timestamp()) + 900
    assert f"stakeholders not notified yet (due <!date^{due}^{{time}}|in 15m>)" in shown


def test_an_acknowledged_incident_is_not_offered_acknowledge_again() -> None:
    _, blocks, _ = incident_card(incident(status="acknowledged", acknowledged_by="Alice"), None)
    assert action_ids(blocks) == ["pd_resolve", "stakeholders_notified", "incident_customer_facing"]
    assert "👤 Acknowledged by Alice" in all_text(blocks)
    assert "not notified yet" not in all_text(blocks)  # no policy, no clock


def test_notified_stakeholders_are_named_and_their_button_goes() -> None:
    case = incident(stakeholders_notified_by="U0PM", stakeholders_notified_at=T0 + timedelta(minutes=4))
    _, blocks, _ = incident_card(case, Escalation())
    assert action_ids(blocks) == ["pd_acknowledge", "pd_resolve", "incident_customer_facing"]
    assert "stakeholders notified by <@U0PM> at 17:46 UTC" in all_text(blocks)


def test_a_resolved_incident_has_no_buttons() -> None:
    _, blocks, _ = incident_card(incident(status="resolved", resolved_by="Bob"), Escalation())
    dicts = valid_blocks(blocks)
    assert action_ids(blocks) == []
    assert dicts[0]["text"]["text"] == "✅ Incident"
    assert "✅ Resolved by Bob" in all_text(blocks)


def test_context_links_pagerduty_and_names_assignees() -> None:
    case = incident(pd_url="https://example.pagerduty.com/incidents/P1", assignees=["Alice", "Carol"], run_id=None)
    shown = all_text(incident_card(case, None)[1])
    assert "opened 17:42 UTC · <https://example.pagerduty.com/incidents/P1|PagerDuty incident>" in shown
    assert "assigned to Alice, Carol" in shown and "run `" not in shown
    assert metadata_of(incident_card(case, None)[2])[1]["run_id"] == ""


def test_a_page_not_delivered_yet_says_escalate_by_phone() -> None:
    case = incident(status="pending", paged_at=None, phone_escalation_posted=True)
    assert "⏳ Paging PagerDuty… — *PagerDuty could not be paged yet: escalate by phone*" in all_text(
        incident_card(case, None)[1]
    )
    said = phone_escalation(case, "PagerDuty answered 500", ["Alice (on call)"])
    assert said.startswith("📞 *Could not page PagerDuty — escalate by phone:*\n• Alice (on call)\n")
    assert "Why: PagerDuty answered 500." in said
    assert "• (no technical contacts in the runbook)" in phone_escalation(case, "down", [])


def test_a_late_page_counts_its_failed_attempts() -> None:
    assert delivered_late(T0, T0 + timedelta(minutes=3), 1).endswith("3m after the first attempt (1 failed attempt).")
    assert delivered_late(T0, T0 + timedelta(seconds=5), 4).endswith("5s after the first attempt (4 failed attempts).")


def test_the_stakeholder_reminder_lists_who_to_tell_from_the_runbook() -> None:
    book = runbook()
    said = stakeholder_reminder(incident(), book.contacts, book.escalation, T0 + timedelta(minutes=16))
    lines = said.split("\n")
    assert lines[0].startswith("⏰ *Business stakeholders have not been notified* — 16m since the incident opened")
    assert "told within 15m:" in lines[0]
    assert lines[1:3] == ["• Product Manager", "• VP Engineering"]
    assert "Customer-facing and over 30m: CEO" in said
    assert "Customer communication for outages over 5m: Status page" in said
    assert lines[-1] == "Click *Stakeholders notified* on the incident card once done."
