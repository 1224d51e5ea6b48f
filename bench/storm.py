"""Alert storm: 1,000 identical alert messages, vs 1,000 `/rollback help` commands, on the same `rollbot web`.

The scenario of tests/bot/test_alert_intake.py::test_alert_storm_is_one_card_one_rollback_one_page:
`rollbot web` (gunicorn, 1 process × 16 threads) and a `rollbot worker` (all queues), phase2's
checkpoint recorded, a bad release on main, and an `auto` alert rule for the manual's monitor line.
16 threads sharing one HTTP client post 1,000 signed Events API messages carrying that line (the
alert channel's ID is learned from Slack during the storm, as on a fresh install). Side by side, on
the same server and in the same way, 1,000 signed `/rollback help` commands are sent before the storm
and 1,000 after it: Bolt's verification plus an audit entry and the runbook, the cheapest command.

Targets: the storm's throughput within 1.5× of the help commands' (each message is matched and
deduplicated with a few Redis commands more than the help's one audit entry, while the worker
posts the card and runs the rollback on the same machine), and its outcome: one card, one rollback,
one page, and never two card calls within a second (a margin of 50 ms for the stand-in's clock).
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import trustme
from redis import Redis

from bench.click_latency import clean
from bench.common import Row
from bench.detect import _env
from jobs.alert_response import CARD_UPDATE_SECONDS
from jobs.context import Context
from jobs.keys import Keys
from jobs.redaction import Redactor
from jobs.settings import Settings
from tests.bot.test_alert_intake import AUTO_RULE, MANUAL_LINE, alert_cards, message, with_checkpoint
from tests.conftest import ONCALL, REDIS_URL, make_repo, start_web, start_worker, stop, stop_worker, wait_for
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import JSON_HEADERS, command_body, event_body, signed_post
from tests.standins.slack import SlackStandIn

MESSAGES = 1000
THREADS = 16
WARMUP = 100  # help commands before measuring: the server's threads, connections, runbook cache
TARGET = 1.5  # storm time ÷ help time
GAP_MARGIN = 0.05  # seconds: card calls at least CARD_UPDATE_SECONDS - this apart


def _load(url: str, bodies: Sequence[tuple[str, dict[str, str] | None]]) -> tuple[float, list[float]]:
    """Send `bodies` from THREADS threads sharing one client: (wall seconds, each request's latency)."""

    def send(http: httpx.Client, body: str, headers: dict[str, str] | None) -> float:
        started = time.perf_counter()
        response = signed_post(url, body, headers=headers, client=http)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")
        return elapsed

    with httpx.Client() as http, ThreadPoolExecutor(THREADS) as pool:
        started = time.perf_counter()
        latencies = list(pool.map(lambda item: send(http, *item), bodies))
        return time.perf_counter() - started, latencies


def _help(url: str, slack: SlackStandIn, count: int) -> tuple[float, list[float]]:
    body = command_body("/rollback", "help", ONCALL, slack.response_url("help"))
    return _load(url, [(body, None)] * count)


def _storm(url: str) -> tuple[float, list[float]]:
    events = [(event_body(message(MANUAL_LINE), f"Ev{i:04d}"), JSON_HEADERS) for i in range(MESSAGES)]
    return _load(url, events)


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def _card_calls(slack: SlackStandIn) -> list[float]:
    """When the stand-in received each post or update of an alert card (monotonic seconds)."""
    return sorted(c.at for c in slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")
                  if (c.params.get("metadata") or {}).get("event_type") == "rollbot_alert")  # fmt: skip


def _outcome(ctx: Context, slack: SlackStandIn, pagerduty: PagerDutyStandIn, started: float) -> dict[str, Any]:
    """Wait for the rollback to end and the card to count every message; what the storm produced."""
    runs = wait_for(lambda: [r for r in ctx.runs.recent(10) if r.actor == "automation"], 30, "the rollback")
    wait_for(lambda: not ctx.runs.get(runs[0].run_id).is_active, 60, "the rollback to end")
    seen = f"seen {MESSAGES} times"
    wait_for(lambda: any(seen in str(c["blocks"]) for c in alert_cards(slack, "chat.update")), 30,
             "the card to count every message")  # fmt: skip
    settled = time.monotonic() - started
    cards = alert_cards(slack, "chat.postMessage")
    alert = ctx.alerts.get(cards[0]["metadata"]["event_payload"]["alert_id"])
    return {
        "cards": len(cards),
        "rollbacks": len([r for r in ctx.runs.recent(10) if r.kind == "rollback"]),
        "status": ctx.runs.get(runs[0].run_id).status,
        "pages": len(pagerduty.events("trigger")),
        "count": alert.count if alert is not None else 0,
        "calls": _card_calls(slack),
        "settled": settled,
        "slack_errors": len([c for c in slack.calls if c.status != 200]),
    }


def run() -> list[Row]:
    """Help commands, the storm, help commands again; then count what the storm produced."""
    redis = Redis.from_url(REDIS_URL)
    ca = trustme.CA()
    slack = SlackStandIn().start()
    pagerduty = PagerDutyStandIn(ca).start()
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    ctx = Context(redis, Keys(namespace), Settings(rollbot_namespace=namespace, redis_url=REDIS_URL), Redactor([]))
    web = worker = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            repo = make_repo(Path(tmp) / "service")
            env = _env(namespace, Path(tmp) / "runbook.yaml", slack, pagerduty, bundle)
            with_checkpoint(ctx, env, repo, AUTO_RULE)
            web, base = start_web(env)
            worker = start_worker(env)
            url = f"{base}/slack/events"
            _help(url, slack, WARMUP)
            help_before = _help(url, slack, MESSAGES)
            started = time.monotonic()
            storm = _storm(url)
            outcome = _outcome(ctx, slack, pagerduty, started)
            help_after = _help(url, slack, MESSAGES)
    finally:
        if worker is not None:
            stop_worker(worker)
        if web is not None:
            stop(web)
        slack.stop()
        pagerduty.stop()
        clean(redis, namespace)
    help_seconds = (help_before[0] + help_after[0]) / 2
    help_latencies = help_before[1] + help_after[1]
    ratio = storm[0] / help_seconds
    calls = outcome["calls"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    closest = min(gaps) if gaps else float("inf")
    rate = CARD_UPDATE_SECONDS / closest  # ≤ 1: never two card calls within CARD_UPDATE_SECONDS
    produced = (outcome["cards"], outcome["rollbacks"], outcome["pages"]) == (1, 1, 1)
    counted = outcome["count"] == MESSAGES and outcome["status"] == "succeeded" and not outcome["slack_errors"]
    spaced = closest >= CARD_UPDATE_SECONDS - GAP_MARGIN
    return [
        Row("alert storm intake", f"{MESSAGES:,} identical alert messages vs {MESSAGES:,} `/rollback help` "
            f"commands, {THREADS} threads, same `rollbot web`: time to acknowledge all", ratio, f"≤ {TARGET}×",
            ratio <= TARGET, f"storm {storm[0]:.2f} s ({MESSAGES / storm[0]:.0f}/s; p50 {_percentile(storm[1], 50):.1f}"
            f" ms, p99 {_percentile(storm[1], 99):.1f} ms); help {help_seconds:.2f} s ({MESSAGES / help_seconds:.0f}/s;"
            f" p50 {_percentile(help_latencies, 50):.1f} ms, p99 {_percentile(help_latencies, 99):.1f} ms; mean of "
            "a round before and one after the storm)"),
        Row("alert storm outcome", "what 1,000 identical alert messages produced: cards, rollbacks, pages, and "
            "the closest two card calls (1 s ÷ their gap)", rate, "1 card, 1 rollback, 1 page; ≤ 1 card call a "
            "second", produced and counted and spaced, f"{outcome['cards']} card, {outcome['rollbacks']} rollback "
            f"({outcome['status']}), {outcome['pages']} page; the card counted {outcome['count']} messages in "
            f"{len(calls)} card calls over {outcome['settled']:.1f} s (storm → rollback done → card final), closest "
            f"{closest:.2f} s apart; {outcome['slack_errors']} Slack errors"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(f"{row.benchmark}: {row.ratio:.2f}× ({row.details}) target {row.target}")
