"""Matching messages in the alert channel to alert rules: the runbook's, then the built-in rule for
the manual's own monitor line (`CRITICAL: Golden Path health at 0.87% - Triggering rollback`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jobs.runbook.model import AlertRule, Runbook, normalize

BUILTIN_RULE_NAME = "manual-monitor"
BUILTIN_PATTERN = r"CRITICAL: Golden Path health at (?P<value>[0-9]*\.?[0-9]+)%? - Triggering rollback"
MAX_TEXT = 4000  # longer messages are matched on their beginning


@dataclass(frozen=True)
class Match:
    """A message that matched a rule, with the metric's value when the rule captures one."""

    service: str
    rule: AlertRule
    value: float | None
    text: str

    @property
    def fingerprint(self) -> str:
        """Same service, rule and metric = the same alert (the value may move between repeats)."""
        return f"rule:{self.service}/{self.rule.name}:{self.rule.metric}"


def builtin_rule(runbook: Runbook) -> AlertRule:
    """The manual's monitor line: a card and a page (`suggest`), proposing the golden path's
    `on_breach` rollback when the runbook has one. It never rolls back by itself (docs/monitoring.md).
    """
    source = runbook.health.get("golden_path") or next(iter(runbook.health.values()), None)
    breach = source.on_breach if source else None
    return AlertRule(
        name=BUILTIN_RULE_NAME,
        pattern=BUILTIN_PATTERN,
        metric="golden_path.success_rate",
        phase=breach.phase if breach else None,
        level=breach.level if breach else None,
        mode="suggest",
        cooldown=source.cooldown if source else 900.0,
    )


def rules(runbook: Runbook, builtin: bool = True) -> list[AlertRule]:
    """The runbook's rules in order, then the built-in one (unless the runbook reuses its name, or
    `builtin` is False: the manual's line names no service, so with several it matches none)."""
    own = list(runbook.alerts)
    if not builtin or any(r.name == BUILTIN_RULE_NAME for r in own):
        return own
    return [*own, builtin_rule(runbook)]


def _field(event: dict[str, Any], path: str) -> str | None:
    node: Any = event
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node if isinstance(node, str) else None


def message_text(event: dict[str, Any]) -> str:
    """The text of a message event, with its attachments' titles and texts (integrations use them)."""
    parts = [event.get("text") or ""]
    for attachment in event.get("attachments") or []:
        if isinstance(attachment, dict):
            parts += [str(attachment.get(k) or "") for k in ("pretext", "title", "text", "fallback")]
    return "\n".join(p for p in parts if p)[:MAX_TEXT]


def _value(match: re.Match[str] | None) -> float | None:
    if match is None or "value" not in match.groupdict() or match.group("value") is None:
        return None
    try:
        return normalize(float(match.group("value")))
    except ValueError:
        return None


def match_message(runbook: Runbook, event: dict[str, Any], builtin: bool = True) -> Match | None:
    """The first rule the message matches (the built-in one only with `builtin`), or None."""
    text = message_text(event)
    for rule in rules(runbook, builtin):
        found = re.search(rule.pattern, text) if rule.pattern else None
        if rule.pattern and found is None:
            continue
        if all(re.search(expr, _field(event, path) or "") for path, expr in rule.fields.items()):
            if rule.fields and any(_field(event, path) is None for path in rule.fields):
                continue
            return Match(runbook.service, rule, _value(found), text)
    return None
