"""`{name}` placeholders in step arguments (jobs.runbook.placeholders) and their resolution in plans."""

from __future__ import annotations

import pytest

from jobs.runbook.placeholders import placeholder_names, substitute
from jobs.runs.plan import resolve


def test_names_are_found_in_order_and_double_braces_are_literal() -> None:
    assert placeholder_names("--project={project} --tag={checkpoint}") == ["project", "checkpoint"]
    assert placeholder_names("{{not}} a {{placeholder}}") == []
    assert placeholder_names("plain") == []


@pytest.mark.parametrize("text", ["{x!r}", "{x:>3}", "{1}", "{a.b}", "{a[0]}", "{", "}", "{}"])
def test_anything_but_a_plain_name_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):  # the message depends on which form it is
        placeholder_names(text)


def test_substitute_fills_names_and_keeps_literal_braces() -> None:
    assert substitute("{a}-{b} {{c}}", {"a": "1", "b": "2"}) == "1-2 {c}"
    assert substitute("{a}{a}", {"a": "x"}) == "xx"


def test_a_missing_value_is_a_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="run_id"):
        substitute("echo {run_id}", {})


def test_values_are_not_substituted_again() -> None:
    assert substitute("{a}", {"a": "{b}", "b": "no"}) == "{b}"


def test_resolve_shows_unknown_names_as_angle_brackets() -> None:
    assert resolve("{service}/{run_id}", {"service": "billing"}) == "billing/<run_id>"
