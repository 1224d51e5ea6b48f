"""Two-person approval cards (jobs.blocks.approval_card): *Approve*/*Reject* only while pending,
the fixed `rollbot_approval` metadata, and each decided state in words."""

from __future__ import annotations

import pytest

from jobs.core.ids import ActionId
from jobs.records.approvals import ApprovalState
from jobs.slack.blocks import approval_card, approval_requested
from tests.unit.builders import T0, action_ids, all_text, approval, buttons, metadata_of, valid_blocks


@pytest.mark.parametrize("state", ["pending", "approved", "rejected", "expired"])
def test_every_state_renders_valid_blocks_and_approval_metadata(state: ApprovalState) -> None:
    request = approval(state=state, decided_by="U0APPROVER" if state in ("approved", "rejected") else None)
    text, blocks, metadata = approval_card(request, "approver", 1800.0)
    valid_blocks(blocks)
    assert text == f"Approval {state}: rollback phase3 level3 of `billing`, requested by U0OPERATOR"
    event_type, payload = metadata_of(metadata)
    assert event_type == "rollbot_approval"
    assert payload == {"run_id": request.run_id, "requested_by": "U0OPERATOR", "state": state}


def test_a_pending_request_offers_approve_with_confirmation_and_reject() -> None:
    _, blocks, _ = approval_card(approval(checkpoint_tag="phase3-pre-1"), "approver", 1800.0)
    assert action_ids(blocks) == [ActionId.APPROVAL_APPROVE, ActionId.APPROVAL_REJECT]
    found = buttons(blocks)
    assert found["approval_approve"]["value"] == found["approval_reject"]["value"] == "rb-20261125-174233-aaaa"
    assert found["approval_approve"]["confirm"]["text"]["text"] == "Starts rollback phase3 level3 of `billing` at once."
    shown = all_text(blocks)
    assert "⏳ Waiting for a second person with the `approver` role" in shown
    expires = int(T0.timestamp()) + 900
    assert f"expires <!date^{expires}^{{time}}|17:57 UTC>" in shown
    assert "budget 30m · resets to `phase3-pre-1`" in shown


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ("approved", "✅ Approved by <@U0APPROVER>: run `rb-20261125-174233-aaaa` started."),
        ("rejected", "🚫 Rejected by <@U0APPROVER>; nothing was started."),
        ("expired", "⌛ Expired unapproved; nothing was started."),
    ],
)
def test_a_decided_request_has_no_buttons_and_says_what_happened(state: ApprovalState, said: str) -> None:
    _, blocks, _ = approval_card(approval(state=state, decided_by="U0APPROVER"), "approver", None)
    assert action_ids(blocks) == []
    shown = all_text(blocks)
    assert said in shown and "expires" not in shown and "budget" not in shown


def test_the_requester_reads_where_and_until_when_to_get_approval() -> None:
    said = approval_requested(approval(), "#alerts")
    assert said.startswith("✋ Approval requested for phase3 level3 (run `rb-20261125-174233-aaaa`)")
    assert "on the card in #alerts before 17:57 UTC" in said


def test_the_longest_names_a_runbook_allows_still_render_valid_blocks() -> None:
    longest = "x" * 40  # runbook names are at most 40 characters
    _, blocks, _ = approval_card(approval(service=longest, phase=longest, level=longest), "approver", 60.0)
    assert action_ids(blocks) == ["approval_approve", "approval_reject"]
