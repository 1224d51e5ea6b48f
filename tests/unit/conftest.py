"""Marks every test of the unit tier `unit`, so `pytest -m unit` selects it from anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    """Register the `unit` marker (pure tests: no Redis, processes or network)."""
    config.addinivalue_line("markers", "unit: fast pure tests of tests/unit (no Redis, processes or network)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test collected from this folder is a unit test."""
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.unit)
