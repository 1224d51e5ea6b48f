"""Slash command text with one runbook and with several services: every input parses or gets a
clear `UsageError`, never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.parsing import Command, parse_phase_only, parse_rollback
from jobs.core.exceptions import UsageError
from jobs.runbook.catalog import load_catalog
from tests.conftest import make_repo, write_runbook
from tests.support.runbooks import folder_of


def test_several_services_take_the_service_first(tmp_path: Path) -> None:
    books = load_catalog(folder_of(tmp_path, "billing", "search"))
    assert parse_rollback("billing phase2", books) == Command("plan", phase="phase2", service="billing")
    assert parse_rollback("--dry-run search phase2 immediate", books) == Command(
        "plan", phase="phase2", level="immediate", dry_run=True, service="search"
    )
    assert parse_rollback("phase2", books) == Command("plan", phase="phase2")  # the handler asks which service
    assert parse_rollback("cancel", books) == Command("cancel")
    assert parse_phase_only("billing", books, "/validate", required=False) == ("billing", None)
    assert parse_phase_only("billing phase2", books, "/preflight", required=True) == ("billing", "phase2")
    for text, said in (
        ("billing", "Which phase of `billing`?"),
        ("billing --dry-run", "Which phase of `billing`?"),
        ("billing status", "`status` covers every service"),
        ("billing phase2 immediate extra", "Too many words"),
        ("billing phase2 --now", "Unknown option `--now`"),
    ):
        with pytest.raises(UsageError, match=said):
            parse_rollback(text, books)
    with pytest.raises(UsageError, match="Usage: `/preflight <service> <phase>`"):
        parse_phase_only("billing", books, "/preflight", required=True)


def test_one_runbook_needs_no_service_and_its_words_keep_their_meaning(tmp_path: Path) -> None:
    books = load_catalog(write_runbook(tmp_path / "one.yaml", make_repo(tmp_path / "repo"), service="phase2"))
    assert parse_rollback("phase2", books) == Command("plan", phase="phase2")  # the phase, not the service
    assert parse_rollback("", books) == Command("help")
    assert parse_rollback("--dry-run", books) == Command("help")
