"""Block Kit of the communication clocks (jobs.slack.blocks.comms): drafts with *Send now* and
*Publish*, the Phase 1 checklist and its modal, each validated with slack_sdk's models.
"""

from __future__ import annotations

from jobs.core.ids import ActionId, CallbackId
from jobs.slack.blocks import phase1_checklist, phase1_modal, stakeholder_draft, statuspage_draft
from tests.unit.builders import action_ids, all_text, buttons, valid_blocks


def test_the_business_draft_offers_send_now_and_says_when_it_goes_by_itself() -> None:
    text, blocks = stakeholder_draft("k1", "[Incident] billing", "Line one\n\nLine two", ["pm@example.com"], 1_800_000_000,
                                     None)  # fmt: skip
    valid_blocks(blocks)
    assert text.startswith("Business stakeholder notification (draft)")
    assert action_ids(blocks) == [ActionId.STAKEHOLDERS_SEND]
    assert {b["value"] for b in buttons(blocks).values()} == {"k1"}
    shown = all_text(blocks)
    assert "to pm@example.com" in shown and "> Line one\n>\n> Line two" in shown
    assert "<!date^1800000000^{time}|the deadline>" in shown


def test_the_business_draft_without_smtp_has_no_button_and_says_why() -> None:
    _, blocks = stakeholder_draft("k1", "s", "b", ["pm@example.com"], None, "E-mail is not configured (`SMTP_URL`)")
    valid_blocks(blocks)
    assert action_ids(blocks) == []
    assert "E-mail is not configured (`SMTP_URL`): send it yourself" in all_text(blocks)


def test_status_page_drafts_publish_or_name_the_page_to_paste_into() -> None:
    _, blocks = statuspage_draft("k1", "billing: degraded", "investigating", "We are on it.", "cmp1", None, False)
    valid_blocks(blocks)
    assert action_ids(blocks) == [ActionId.STATUSPAGE_PUBLISH] and {b["value"] for b in buttons(blocks).values()} == {
        "k1"
    }
    _, resolution = statuspage_draft("k1", "t", "resolved", "Fixed.", None, None, True)
    assert {b["value"] for b in buttons(resolution).values()} == {"resolve:k1"}
    assert "(none set: `status_page.component_id`)" in all_text(resolution)
    _, manual = statuspage_draft("k1", "t", "investigating", "b", None, "Status Page: status.example.com", False)
    valid_blocks(manual)
    assert action_ids(manual) == [] and "paste it into Status Page: status.example.com" in all_text(manual)


def test_the_phase1_checklist_and_its_modal() -> None:
    blocks = phase1_checklist("billing", "phase1", "Analysis", ["Error rate doubles", "Data loss"], "acme/app#234")
    valid_blocks(blocks)
    assert action_ids(blocks) == [ActionId.PHASE1_BLOCKERS]
    assert {b["value"] for b in buttons(blocks).values()} == {"billing/phase1"}
    assert "☐ Error rate doubles\n☐ Data loss" in all_text(blocks) and "`acme/app#234`" in all_text(blocks)
    view = phase1_modal("billing/phase1", ["Error rate doubles", "x" * 200])
    view.validate_json()
    shown = view.to_dict()
    assert shown["callback_id"] == CallbackId.PHASE1_BLOCKERS and shown["private_metadata"] == "billing/phase1"
    options = shown["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == ["0", "1"] and len(options[1]["text"]["text"]) <= 75
