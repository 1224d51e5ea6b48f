"""Runbooks for tests: a folder of them (one per service), and the problems a bad one is refused with."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.core.exceptions import RunbookError
from jobs.runbook.loader import parse_runbook
from tests.conftest import make_repo, write_runbook


def folder_of(tmp_path: Path, *services: str) -> Path:
    """A folder with one runbook per service (each with its own repository)."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    for service in services:
        write_runbook(folder / f"{service}.yaml", make_repo(tmp_path / service), service=service)
    return folder


def problems_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(text, "test.yaml", Path("/tmp"))
    return caught.value.problems
