"""Slash command text (bot.commands.parsing) against catalogs built in memory: what each input
means, and the `UsageError` every other input gets."""

from __future__ import annotations

import pytest

from bot.commands.parsing import MAX_TEXT, Command, parse_phase_only, parse_rollback
from jobs.core.exceptions import UsageError
from jobs.runbook.catalog import Catalog
from tests.unit.builders import other_runbook, runbook

ONE = Catalog({"billing": runbook()})
SEVERAL = Catalog({"billing": runbook().named_in_commands(), "search": other_runbook().named_in_commands()})


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("phase3", Command("plan", phase="phase3")),
        ("  PHASE3   Level2 ", Command("plan", phase="phase3", level="level2")),
        ("phase3 level2 --dry-run", Command("plan", phase="phase3", level="level2", dry_run=True)),
        ("--dry-run phase2", Command("plan", phase="phase2", dry_run=True)),
        ("", Command("help")),
        ("help", Command("help")),
        ("status", Command("status")),
        ("History", Command("history")),
        ("cancel", Command("cancel")),
        ("cancel rb-20261125-174233-3fa2", Command("cancel", run_id="rb-20261125-174233-3fa2")),
        ("billing phase3", Command("plan", phase="phase3", service="billing")),  # naming it is allowed
    ],
)
def test_one_runbook_inputs(text: str, command: Command) -> None:
    assert parse_rollback(text, ONE) == command


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("phase3 level1 extra", "Too many words: `phase3 level1 extra`."),
        ("phase3 --now", "Unknown option `--now`: the only option is `--dry-run`."),
        ("status now", "`status` takes nothing after it."),
        ("cancel a b", "`cancel` takes at most a run id."),
        ("help me", "`help` takes nothing after it."),
        ("billing", "Which phase of `billing`?"),
        ("phase3; rm -rf /", "I don't understand `phase3;`."),
        ("`x`", "I don't understand `'x'`."),
        ("x" * (MAX_TEXT + 1), f"That is {MAX_TEXT + 1} characters; no rollbot command is that long."),
    ],
)
def test_bad_inputs_get_a_usage_error_saying_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_rollback(text, ONE)
    assert said in raised.value.user_message
    assert "Usage: `/rollback <phase> [<level>] [--dry-run]`" in raised.value.user_message


def test_an_unknown_word_error_lists_the_help() -> None:
    with pytest.raises(UsageError) as raised:
        parse_rollback("phase3 le$vel", ONE)
    assert "• `phase3` — WebSocket, risk high" in raised.value.user_message


def test_several_services_take_the_service_first() -> None:
    assert parse_rollback("search phase3 level2", SEVERAL) == Command("plan", "phase3", "level2", service="search")
    assert parse_rollback("status", SEVERAL) == Command("status")
    assert parse_rollback("search help", SEVERAL) == Command("help", service="search")
    for text, said in (("search", "Which phase of `search`?"), ("search cancel", "`cancel` covers every service")):
        with pytest.raises(UsageError, match=said):
            parse_rollback(text, SEVERAL)


def test_phase_only_commands() -> None:
    assert parse_phase_only("phase2", ONE, "/preflight", required=True) == (None, "phase2")
    assert parse_phase_only("", ONE, "/validate", required=False) == (None, None)
    assert parse_phase_only("search Phase3", SEVERAL, "/validate", required=False) == ("search", "phase3")
    for text, required in (("", True), ("phase2 phase3", False), ("help", False)):
        with pytest.raises(UsageError, match=r"Usage: `/preflight (<phase>|\[phase\])`"):
            parse_phase_only(text, ONE, "/preflight", required)
    with pytest.raises(UsageError, match=r"Usage: `/preflight <service> <phase>`"):
        parse_phase_only("search", SEVERAL, "/preflight", required=True)
