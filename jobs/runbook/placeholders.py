"""`{name}` placeholders inside step arguments (`--project={project}`); `{{` is a literal brace."""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

# Names every step may use besides the runbook's own `vars`.
BUILTIN_NAMES = ("checkpoint", "checkpoint_commit", "run_id", "phase", "level", "service")

_FORMATTER = Formatter()


def placeholder_names(text: str) -> list[str]:
    """The placeholder names in `text`; `ValueError` for a stray brace or a `{x!r}`/`{x:>3}` form."""
    names = []
    for _literal, name, spec, conversion in _FORMATTER.parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}} is not a plain placeholder: write {{name}}, or {{{{ for a brace")
        names.append(name)
    return names


def substitute(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{name}` replaced from `values`; `KeyError` names one that is missing."""
    parts = []
    for literal, name, _spec, _conversion in _FORMATTER.parse(text):
        parts.append(literal)
        if name is not None:
            parts.append(values[name])
    return "".join(parts)
