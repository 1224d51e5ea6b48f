"""Block Kit for two-person approvals: the approval card and its request line."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.metadata import Metadata

from jobs.core.durations import format_duration
from jobs.core.ids import ActionId, MetadataType
from jobs.records.approvals import Approval
from jobs.slack.blocks.words import clip, who

# --- two-person approvals ---------------------------------------------------------------------

APPROVAL_STATE_LINES = {
    "pending": "⏳ Waiting for a second person with the `{role}` role (the requester cannot approve their own).",
    "approved": "✅ Approved by {decided}: run `{run_id}` started.",
    "rejected": "🚫 Rejected by {decided}; nothing was started.",
    "expired": "⌛ Expired unapproved; nothing was started.",
}


def approval_card(approval: Approval, role: str, budget: float | None) -> tuple[str, list[Block], Metadata]:
    """The approval card: who asks for which level, until when, and Approve / Reject while pending."""
    what = f"rollback {approval.phase} {approval.level} of `{approval.service}`"
    state = APPROVAL_STATE_LINES[approval.state].format(
        role=role, decided=who(approval.decided_by or "?"), run_id=approval.run_id
    )
    lines = [f"{who(approval.requested_by)} asks to run *{what}* (two-person rule).", state]
    context = [f"run `{approval.run_id}`", f"requested {approval.requested_at:%H:%M} UTC"]
    if approval.state == "pending":
        context.append(
            f"expires <!date^{int(approval.expires_at.timestamp())}^{{time}}|{approval.expires_at:%H:%M} UTC>"
        )
    if budget is not None:
        context.append(f"budget {format_duration(budget)}")
    if approval.checkpoint_tag:
        context.append(f"resets to `{approval.checkpoint_tag}`")
    card: list[Block] = [
        HeaderBlock(text=f"✋ Approval needed: {approval.phase} {approval.level}"),
        SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines)))),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]),
    ]
    if approval.state == "pending":
        card.append(ActionsBlock(elements=[
            ButtonElement(text="Approve", action_id=ActionId.APPROVAL_APPROVE, value=approval.run_id, style="danger",
                          confirm=ConfirmObject(title="Approve and start?", text=f"Starts {what} at once.",
                                                confirm="Approve", deny="Not yet")),
            ButtonElement(text="Reject", action_id=ActionId.APPROVAL_REJECT, value=approval.run_id),
        ]))  # fmt: skip
    payload = {"run_id": approval.run_id, "requested_by": approval.requested_by, "state": approval.state}
    metadata = Metadata(event_type=MetadataType.APPROVAL, event_payload=payload)
    return f"Approval {approval.state}: {what}, requested by {approval.requested_by}", card, metadata


def approval_requested(approval: Approval, channel: str) -> str:
    """What the requester reads after confirming a level that needs two approvals."""
    return (f"✋ Approval requested for {approval.phase} {approval.level} (run `{approval.run_id}`): a second "
            f"person with the approver role must approve it on the card in {channel} before "
            f"{approval.expires_at:%H:%M} UTC. Your confirm counts as the first approval.")  # fmt: skip
