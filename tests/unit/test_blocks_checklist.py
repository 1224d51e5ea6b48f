"""The recovery validation checklist inside a validation run's message: a *Verified* button per
open manual item, who verified the others, and how many items are still open."""

from __future__ import annotations

from datetime import timedelta

from jobs.core.ids import ActionId
from jobs.records.runs import RunRecord
from jobs.runs.plan import manual_checklist_items
from jobs.slack.blocks import ChecklistState, run_message
from tests.unit.builders import T0, action_ids, all_text, buttons, run, runbook, step, valid_blocks

NOW = T0 + timedelta(minutes=5)


def _validation(status: str = "succeeded", steps: int = 1) -> RunRecord:
    return run(status, kind="validation", level=None, run_id="va-20261125-174233-0001",
               steps=[step(i) for i in range(steps)])  # fmt: skip


def test_manual_items_come_from_the_runbook_checklist_without_commands() -> None:
    assert manual_checklist_items(runbook()) == ["Login works", "Dashboards are green"]


def test_each_open_item_has_a_verified_button_naming_run_and_item() -> None:
    state = ChecklistState(manual_checklist_items(runbook()))
    _, blocks, _ = run_message(_validation(), NOW, checklist=state)
    assert action_ids(blocks) == [ActionId.CHECKLIST_VERIFIED] * 2
    values = [d["value"] for d in valid_blocks(blocks) if d.get("accessory")
              for d in [d["accessory"]]]  # fmt: skip
    assert values == ["va-20261125-174233-0001|0", "va-20261125-174233-0001|1"]
    assert "2 of 3 items still open." in all_text(blocks)  # two manual items + one succeeded command


def test_a_verified_item_shows_who_and_when_and_loses_its_button() -> None:
    state = ChecklistState(["Login works", "Dashboards are green"], {0: ("U0CHECKER", T0 + timedelta(minutes=3))})
    _, blocks, _ = run_message(_validation(), NOW, checklist=state)
    assert list(buttons(blocks)) == ["checklist_verified"]
    assert buttons(blocks)["checklist_verified"]["value"].endswith("|1")
    shown = all_text(blocks)
    assert "☑️ Login works\n_verified by <@U0CHECKER> at 17:45 UTC_" in shown
    assert "1 of 3 items still open." in shown
    assert state.open_count == 1


def test_failed_commands_count_as_open_items() -> None:
    record = run("failed", kind="validation", level=None, steps=[step(0), step(1, "failed")])
    _, blocks, _ = run_message(record, NOW, checklist=ChecklistState(["Login works"], {0: ("U1", T0)}))
    assert "1 of 3 items still open." in all_text(blocks)


def test_at_most_twenty_items_are_shown_and_the_message_stays_valid() -> None:
    state = ChecklistState([f"Item {i}" for i in range(30)])
    _, blocks, _ = run_message(_validation(), NOW, checklist=state)
    assert len(action_ids(blocks)) == 20
    assert "30 of 31 items still open." in all_text(blocks)


def test_an_empty_checklist_adds_nothing() -> None:
    _, with_empty, _ = run_message(_validation(), NOW, checklist=ChecklistState())
    _, without, _ = run_message(_validation(), NOW)
    assert valid_blocks(with_empty) == valid_blocks(without)
