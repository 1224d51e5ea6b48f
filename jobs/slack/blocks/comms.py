"""Block Kit for the communication clocks: the business e-mail draft (*Send now*), the status page
draft (*Publish*), the Phase 1 stop-criteria checklist (*Document blockers*) and its modal.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from jobs.core.ids import ActionId, CallbackId
from jobs.slack.blocks.words import clip

CRITERIA_BLOCK, FINDINGS_BLOCK = "criteria", "findings"
CRITERIA_ACTION, FINDINGS_ACTION = "criteria_ticked", "findings_text"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def stakeholder_draft(
    key: str, subject: str, body: str, recipients: Sequence[str], due: int | None, blocker: str | None
) -> tuple[str, list[Block]]:
    """The drafted business notification in the incident's thread, with *Send now* when it can be
    e-mailed (`blocker` says why it cannot: no addresses, no `SMTP_URL`); `due` is when it is sent by
    itself (None: `auto_send: false`).
    """
    to = ", ".join(recipients) or "(no business contact has an e-mail address)"
    head = f"📧 *Business stakeholder notification* (draft) — to {to}"
    card: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip(f"{head}\n*Subject:* {subject}\n{_quote(body)}"))),
    ]
    if blocker is None:
        card.append(ActionsBlock(elements=[ButtonElement(text="Send now", action_id=ActionId.STAKEHOLDERS_SEND,
                                                         value=key, style="primary")]))  # fmt: skip
        when = (f"It is sent by itself at <!date^{due}^{{time}}|the deadline> unless sent before." if due is not None
                else "It is not sent by itself (`escalation.auto_send: false`): click *Send now*.")  # fmt: skip
    else:
        when = f"{blocker}: send it yourself, then click *Stakeholders notified* on the incident card."
    card.append(ContextBlock(elements=[MarkdownTextObject(text=when)]))
    return f"Business stakeholder notification (draft): {subject}", card


def statuspage_draft(
    key: str, title: str, status: str, body: str, component: str | None, address: str | None, resolution: bool
) -> tuple[str, list[Block]]:
    """A drafted status page update with *Publish*, or, without Statuspage settings, the status
    page's address to paste it into.
    """
    what = "resolution" if resolution else "update"
    affected = component or "(none set: `status_page.component_id`)"
    lines = [f"📣 *Status page {what}* (draft, customer-facing)", f"*Title:* {title}", f"*Status:* `{status}`",
             f"*Affected component:* {affected}", _quote(body)]  # fmt: skip
    card: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines))))]
    if address is None:
        value = f"resolve:{key}" if resolution else key
        card.append(ActionsBlock(elements=[ButtonElement(text="Publish", action_id=ActionId.STATUSPAGE_PUBLISH,
                                                         value=value, style="primary")]))  # fmt: skip
    else:
        card.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Statuspage is not configured (`STATUSPAGE_API_KEY`, `STATUSPAGE_PAGE_ID`): paste it into {address}."
        )]))  # fmt: skip
    return f"Status page {what} (draft): {title}", card


def phase1_checklist(
    service: str, phase: str, title: str, criteria: Sequence[str], tracking_issue: str | None
) -> list[Block]:
    """`/rollback phase1` (an analysis-only phase): the emergency stop criteria as a checklist, and
    *Document blockers* (its value: `service/phase`).
    """
    items = "\n".join(f"☐ {c}" for c in criteria) or "(the runbook lists no stop criteria)"
    where = f"a comment on `{tracking_issue}`" if tracking_issue else "the channel (no `tracking_issue` in the runbook)"
    button = ButtonElement(text="Document blockers", action_id=ActionId.PHASE1_BLOCKERS, value=f"{service}/{phase}")
    told = f"Findings go to {where}; business contacts are told a stakeholder review is required."
    return [
        SectionBlock(text=MarkdownTextObject(text=clip(f"*{phase} ({title}): emergency stop criteria*\n{items}"))),
        ActionsBlock(elements=[button]),
        ContextBlock(elements=[MarkdownTextObject(text=told)]),
    ]


def phase1_modal(target: str, criteria: Sequence[str]) -> View:
    """The *Document blockers* modal of `target` (`service/phase`): the findings and the criteria met."""
    blocks: list[Block] = []
    if criteria:
        options = [Option(value=str(i), text=c[:75]) for i, c in enumerate(criteria)]
        blocks.append(InputBlock(block_id=CRITERIA_BLOCK, label="Stop criteria met", optional=True,
                                 element=CheckboxesElement(action_id=CRITERIA_ACTION, options=options)))  # fmt: skip
    blocks.append(InputBlock(block_id=FINDINGS_BLOCK, label="Findings",
                             element=PlainTextInputElement(action_id=FINDINGS_ACTION, multiline=True,
                                                           max_length=3000)))  # fmt: skip
    return View(type="modal", callback_id=CallbackId.PHASE1_BLOCKERS, private_metadata=target,
                title="Blockers", submit="Document", close="Cancel", blocks=blocks)  # fmt: skip
