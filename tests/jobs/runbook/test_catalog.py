"""`RUNBOOK` naming a folder: one runbook per service, checked as a whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.core.exceptions import RunbookError, UnknownTargetError
from jobs.runbook.catalog import load_catalog
from tests.conftest import make_repo, write_runbook
from tests.support.runbooks import folder_of


def test_a_folder_serves_each_service_by_name(tmp_path: Path) -> None:
    books = load_catalog(folder_of(tmp_path, "billing", "search"))
    assert books.services == ["billing", "search"]
    assert books.get("search").service == "search"
    assert books.get("search").repo == (tmp_path / "search").resolve()
    assert books.single is None
    assert books.choose("billing", "x").service == "billing"
    with pytest.raises(
        UnknownTargetError, match=re.escape("several services: `billing`, `search`. Name one: `/rollback")
    ):
        books.choose(None, "`/rollback <service> phase2`")
    with pytest.raises(UnknownTargetError, match=re.escape("Unknown service `nosuch`. Services: `billing`, `search`")):
        books.get("nosuch")


def test_a_single_file_needs_no_service_name(tmp_path: Path) -> None:
    path = write_runbook(tmp_path / "one.yaml", make_repo(tmp_path / "repo"))
    books = load_catalog(path)
    assert books.services == ["sandbox"]
    assert books.choose(None, "x") is books.get("sandbox")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("service: search", "service: billing", "`billing` is already the service of"),
        ("#critical-alerts", "#search-alerts", "the runbooks of one deployment share one alert channel"),
        ("service: search", "service: status", "`status` is also a command word"),
        ("service: search", "service: phase2", "`phase2` is also a command word or a phase name"),
    ],
)
def test_runbooks_of_one_folder_must_agree(tmp_path: Path, old: str, new: str, problem: str) -> None:
    folder = folder_of(tmp_path, "billing", "search")
    second = folder / "search.yaml"
    second.write_text(second.read_text().replace(old, new))
    books = load_catalog(folder)
    assert books.services == ["billing"], "the first file is used, the one that disagrees is not"
    assert problem in books.broken[str(second)].user_message


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="holds no"):
        load_catalog(tmp_path)


def test_a_broken_runbook_leaves_the_other_services_working(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, "billing", "search")
    (folder / "search.yaml").write_text((folder / "search.yaml").read_text().replace("budget: 30m", "budget: soon"))
    books = load_catalog(folder)
    assert books.services == ["billing"] and books.several
    assert list(books.broken) == [str(folder / "search.yaml")]
    with pytest.raises(UnknownTargetError, match=r"Unknown service `search`(.|\n)*budget"):
        books.get("search")
    with pytest.raises(UnknownTargetError, match="several services"):
        books.choose(None, "x")  # never a guess, even with one left
    assert books.get("billing").service_word == "billing "


def test_a_broken_file_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, "billing")
    (folder / "notes.yaml").write_bytes(b"\xff\xfe not UTF-8")
    first = load_catalog(folder)
    assert load_catalog(folder) is first, "nothing changed: the same catalog"
    assert "not UTF-8" in first.broken[str(folder / "notes.yaml")].user_message
    (folder / "notes.yaml").write_text("version: 1\n")
    assert load_catalog(folder) is not first


def test_service_names_are_checked_against_every_runbooks_phases(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, "aweb", "billing")
    billing = folder / "billing.yaml"
    billing.write_text(billing.read_text().replace("  phase2:\n", "  aweb:\n", 1))  # a later file's phase
    books = load_catalog(folder)
    assert books.services == ["billing"]
    assert "`aweb` is also a command word or a phase name" in books.broken[str(folder / "aweb.yaml")].user_message


def test_one_runbook_in_a_folder_may_name_its_service_freely(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, "status")
    assert load_catalog(folder).services == ["status"]
