"""The rollback modal and the App Home (jobs.slack.blocks.modal, .home): every view is valid Block Kit
(slack_sdk's `View` models), with the fixed callback_id, block ids and action ids."""

from __future__ import annotations

import json

from jobs.core.ids import ActionId, CallbackId, ModalField
from jobs.runs.plan import select, with_checkpoint
from jobs.slack.blocks.home import ServiceHome, home_view
from jobs.slack.blocks.modal import ModalForm, ModalState, loading_modal, modal_done, rollback_modal
from tests.support.views import valid_view
from tests.unit.builders import T0, alert, checkpoint, incident, run, runbook, step, walk


def _form(phase: str = "phase2", level: str | None = "immediate", cp: bool = True) -> ModalForm:
    book = runbook()
    plan = select(book, "rollback", phase, level)
    plan = with_checkpoint(plan, checkpoint() if cp else None)
    state = ModalState(token="tok", service="billing", phase=phase, level=plan.level_name)
    levels = [(n, n) for n in book.phases[phase].levels]
    return ModalForm(state, ["billing"], [("phase2", "Tool dispatcher"), ("phase3", "WebSocket")], levels, plan=plan)


def test_the_loading_modal_is_valid_and_carries_its_state() -> None:
    raw = valid_view(loading_modal(ModalState(token="tok", service="billing", note="from the alert rule")))
    assert raw["callback_id"] == CallbackId.ROLLBACK_MODAL
    assert ModalState.load(raw["private_metadata"]).token == "tok"
    assert "from the alert rule" in json.dumps(raw)


def test_the_filled_modal_has_the_three_selects_and_the_plan_preview() -> None:
    raw = valid_view(rollback_modal(_form()))
    assert raw["callback_id"] == "rollback_modal" and raw["submit"]["text"] == "Roll back"
    inputs = [b for b in raw["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == [ModalField.SERVICE, ModalField.PHASE, ModalField.LEVEL]
    assert [b["element"]["action_id"] for b in inputs] == ["modal_service", "modal_phase", "modal_level"]
    assert all(b["dispatch_action"] for b in inputs)  # each change re-fills the preview
    assert inputs[1]["element"]["initial_option"]["value"] == "phase2"
    text = json.dumps(raw, ensure_ascii=False)
    assert "phase2-pre-20261125" in text and "5m" in text and "Restart services" in text


def test_a_plan_without_a_checkpoint_cannot_be_submitted_and_names_the_preflight() -> None:
    form = _form(cp=False)
    form.problem = "Nothing to roll back to yet: run `/preflight phase2`."
    raw = valid_view(rollback_modal(form))
    assert "submit" not in raw
    assert "/preflight phase2" in json.dumps(raw)


def test_the_two_person_rule_names_who_may_approve() -> None:
    form = _form("phase3", "level3", cp=False)
    form.approvers = "the `approver` role (<@U0APPROVER>)"
    raw = valid_view(rollback_modal(form))
    assert "Two-person rule" in json.dumps(raw) and "U0APPROVER" in json.dumps(raw)


def test_the_preflight_modal_has_no_level_and_its_own_callback() -> None:
    form = _form()
    form.state.kind, form.levels = "preflight", [("immediate", "immediate")]
    raw = valid_view(rollback_modal(form))
    assert raw["callback_id"] == CallbackId.PREFLIGHT_MODAL
    assert ModalField.LEVEL not in [b.get("block_id") for b in raw["blocks"]]


def test_the_state_survives_private_metadata_and_bad_metadata_is_empty() -> None:
    state = ModalState(kind="rollback", token="t", service="billing", phase="phase2", commit="abc")
    assert ModalState.load(state.dump()) == state
    assert ModalState.load("not json") == ModalState() == ModalState.load("[1]")


def test_the_done_modal_is_valid() -> None:
    raw = valid_view(modal_done("rollback", "✅ Confirmed: run `rb-1`."))
    assert "submit" not in raw and "rb-1" in json.dumps(raw)


def _home(service: str = "billing") -> ServiceHome:
    running = run("running", steps=[step(0), step(1, "running", started_at=T0)], started_at=T0)
    return ServiceHome(service=service, health=["🟢 golden_path: success_rate 0.99 — successful, 5s ago"],
                       checkpoints=[("phase2", checkpoint()), ("phase3", None)], running=[running],
                       recent=[run() for _ in range(5)], alerts=[alert()], incidents=[incident()])  # fmt: skip


def test_the_home_view_shows_each_service_with_its_buttons() -> None:
    raw = valid_view(home_view([_home(), _home("search")], T0))
    text = json.dumps(raw, ensure_ascii=False)
    for expected in ("billing", "search", "phase2-pre-20261125", "none — run `/preflight phase3`", "golden_path",
                     "step 2/2"):  # fmt: skip
        assert expected in text
    ids = [d["action_id"] for d in walk(raw["blocks"]) if "action_id" in d]
    assert ids.count(ActionId.HOME_ROLLBACK) == 2 and ids.count(ActionId.HOME_PREFLIGHT) == 2
    assert ids.count(ActionId.HOME_REFRESH) == 1


def test_a_home_with_many_services_stays_within_slacks_limit_and_names_the_rest() -> None:
    raw = valid_view(home_view([_home(f"svc{i}") for i in range(20)], T0))
    assert "Not shown:" in json.dumps(raw)


def test_an_empty_home_says_no_runbook() -> None:
    assert "No runbook" in json.dumps(valid_view(home_view([], T0)))


def test_readiness_is_shown_on_the_home_tab_once_a_level_was_rehearsed() -> None:
    without = json.dumps(valid_view(home_view([_home()], T0)), ensure_ascii=False)
    assert "Readiness" not in without  # nothing rehearsed yet: no section
    home = _home()
    home.readiness = [
        "billing phase2 immediate: ready — checkpoint 1d old · rehearsed 2h ago (ready) · expected 4s of 30m"
    ]
    shown = json.dumps(valid_view(home_view([home], T0)), ensure_ascii=False)
    assert "Readiness" in shown and "billing phase2 immediate: ready" in shown
