"""Shared set-up of the communication-clock tests."""

from __future__ import annotations

from pathlib import Path

from jobs.context import Context
from jobs.records import audit
from tests.standins.slack import SlackStandIn
from tests.support.runs import phase3

PM = "pm@example.com"


NEW_BUSINESS = (
    f'  business:\n    - {{name: "Primary: Product Manager", email: {PM}}}\n    - "Secondary: VP Engineering"\n'
)


def comms_runbook(ctx: Context, env: dict[str, str], repo: Path, escalation: str, business: str = NEW_BUSINESS) -> Path:
    """The phase3 runbook (checkpoint taken) with a business contact's address and `escalation`."""
    path = phase3(ctx, env, repo)
    text = path.read_text().replace(OLD_BUSINESS, business)
    path.write_text(text + "escalation:\n" + "".join(f"  {line}\n" for line in escalation.strip().splitlines()))
    return path


def audit_entries(ctx: Context, action: str) -> list[dict[str, str]]:
    return [e for e in audit.entries(ctx.redis, ctx.keys) if e.get("action") == action]


def thread_texts(slack: SlackStandIn) -> list[str]:
    return [str(c.params.get("text")) for c in slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]


OLD_BUSINESS = '  business: ["Primary: Product Manager", "Secondary: VP Engineering"]\n'
