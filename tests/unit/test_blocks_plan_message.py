"""The ephemeral plan (jobs.blocks.plan_message): what will run, and *Roll back now* / *Cancel*
carrying what the person saw (the checkpoint's commit)."""

from __future__ import annotations

import json

from jobs.core.ids import ActionId
from jobs.runs.plan import select, with_checkpoint
from jobs.slack.blocks import plan_message
from tests.unit.builders import action_ids, all_text, buttons, checkpoint, runbook, valid_blocks


def test_the_confirm_button_carries_the_target_token_and_pinned_commit() -> None:
    plan = with_checkpoint(select(runbook(), "rollback", "phase2"), checkpoint())
    title, blocks = plan_message(plan, token="tok-123")
    assert title == "Rollback plan: phase2 — Tool dispatcher"
    assert action_ids(blocks) == [ActionId.ROLLBACK_CONFIRM, ActionId.ROLLBACK_CANCEL]
    confirm = buttons(blocks)["rollback_confirm"]
    assert json.loads(confirm["value"]) == {"kind": "rollback", "service": "billing", "phase": "phase2",
                                            "level": "immediate", "token": "tok-123",
                                            "commit": "0123456789abcdef0123"}  # fmt: skip
    assert confirm["style"] == "danger" and confirm["confirm"]["style"] == "danger"
    shown = all_text(blocks)
    assert "*Resets to:* `phase2-pre-20261125` at `0123456789ab`" in shown
    assert "git checkout main && git reset --hard phase2-pre-20261125 (0123456789ab)" in shown
    assert "systemctl restart billing-billing-prod` (timeout 30s)" in shown


def test_a_dry_run_has_no_buttons() -> None:
    _, blocks = plan_message(select(runbook(), "rollback", "phase3", "level2"), token=None)
    assert action_ids(blocks) == []
    assert "Dry run: nothing will be changed." in all_text(blocks)


def test_a_plan_without_its_checkpoint_names_the_preflight_to_run() -> None:
    _, blocks = plan_message(select(runbook(), "rollback", "phase2"), token="t")
    assert "*Checkpoint:* none recorded — run `/preflight phase2` first" in all_text(blocks)
    several = runbook().named_in_commands()
    _, blocks = plan_message(select(several, "rollback", "phase2"), token="t")
    assert "run `/preflight billing phase2` first" in all_text(blocks)


def test_a_plan_without_reset_needs_no_checkpoint_and_shows_its_level() -> None:
    _, blocks = plan_message(select(runbook(), "rollback", "phase3", "level3"), token="t")
    shown = all_text(blocks)
    assert "*Checkpoint:* not needed" in shown and "*Level:* level3" in shown and "*Budget:* 30m" in shown
    assert "echo 'phase3-level3-<run_id>'" in shown  # not known before the run, quoted as a shell needs


def test_preflight_and_validation_plans_render_valid_blocks() -> None:
    for kind, phase in (("preflight", "phase2"), ("validation", "phase3"), ("validation", None)):
        _, blocks = plan_message(select(runbook(), kind, phase), token="t")  # type: ignore[arg-type]
        valid_blocks(blocks)
        assert "*Kind:*" in all_text(blocks)
