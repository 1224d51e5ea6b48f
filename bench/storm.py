"""Alert storm: 1,000 identical alert messages vs 1,000 `/rollback help` commands, on the same `rollbot web`.

The scenario of tests/bot/test_alert_intake.py::test_alert_storm_is_one_card_one_rollback_one_page:
`rollbot web` (gunicorn, 1 process × 16 threads), phase2's checkpoint recorded, a bad release on
main, and an `auto` alert rule for the manual's monitor line. First the alert channel's ID is
learned from Slack as on a fresh install (a message in the channel that matches no rule is held,
and a burst `rollbot worker --queues notify` looks the channel up and replays it), so that every
message of the storm is matched and deduplicated by the server, none held for a worker; then the
server is warmed up with 100 help commands and 100 alert messages (the first raises the alert).

Intake, side by side in one run, with no worker running: 16 threads sharing one HTTP client send
1,000 signed `/rollback help` commands (Bolt's verification plus an audit entry and the runbook,
the cheapest command, all done before its acknowledgement), then 1,000 signed Events API messages
carrying the monitor line, and so on alternately: 5 storm rounds, each between two help rounds.
A help round is taken in once all 1,000 are acknowledged; a storm round once all 1,000 are
acknowledged and counted by the alert, because Bolt acknowledges an event before its listener
matches it (the matching would otherwise spill past the clock, into the next round). The ratio
is the median over the storm rounds of that time ÷ the mean of the help rounds just before and
after it; the time to acknowledge alone is reported too. The work the storm hands to workers
(card, rollback, page) is not intake and waits until the rounds are over: both sides meet the same
load (the server, the client and Redis on the same machine), where a worker rolling back during
the storm would slow the storm's rounds only.

Outcome, afterwards: a `rollbot worker` (all queues) starts and drains the queue. The 5,100 alert
messages must have produced one card, one rollback (succeeded) and one page, the card counting
every message, and never two card calls within a second (a margin of 50 ms for the stand-in's
clock).

Targets: the storm's intake within 1.5× of the help commands' (a repeat is matched, then counted
and its card marked due in one Redis round trip, a Lua script, as the help writes its one audit
entry), and that outcome.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trustme
from redis import Redis

from bench.click_latency import clean
from bench.common import Row, print_rows
from bench.detect import _env
from jobs.alerts.response import CARD_UPDATE_SECONDS
from jobs.context import Context
from jobs.core.keys import Keys
from jobs.core.redaction import Redactor
from jobs.core.redis_values import optional_text
from jobs.core.settings import Settings
from tests.bot.test_alert_intake import AUTO_RULE, with_checkpoint
from tests.conftest import (
    ONCALL,
    REDIS_URL,
    make_repo,
    run_worker,
    start_web,
    start_worker,
    stop,
    stop_worker,
    wait_for,
)
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import JSON_HEADERS, command_body, event_body, signed_post
from tests.standins.slack import SlackStandIn
from tests.support.alerts import MANUAL_LINE, alert_cards, message

MESSAGES = 1000  # per round, of each kind
ROUNDS = 5  # storm rounds, each between two help rounds
THREADS = 16
WARMUP = 100  # help commands, then alert messages, before measuring: threads, connections, caches
TARGET = 1.5  # storm time ÷ help time
GAP_MARGIN = 0.05  # seconds: card calls at least CARD_UPDATE_SECONDS - this apart
ALERT_CHANNEL_ID = "C0ALERTS"  # the Slack stand-in's #critical-alerts
POLL = 0.005  # seconds between looks at the alert's count


@dataclass(frozen=True)
class Round:
    """One round of 1,000 requests of a kind."""

    seconds: float  # until all were taken in: acknowledged (alert messages: and counted by the alert)
    acknowledged: float  # until the last was acknowledged
    latencies: list[float]  # each request's, to its acknowledgement


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


def _help(url: str, slack: SlackStandIn, count: int) -> Round:
    body = command_body("/rollback", "help", ONCALL, slack.response_url("help"))
    seconds, latencies = _load(url, [(body, None)] * count)
    return Round(seconds, seconds, latencies)


def _storm(url: str, ctx: Context, name: str, count: int, counter: str) -> Round:
    """`count` alert messages, timed until the alert's count (at `counter`) has grown by `count`."""
    events = [(event_body(message(MANUAL_LINE), f"Ev{name}{i:04d}"), JSON_HEADERS) for i in range(count)]
    expected = int(ctx.redis.get(counter) or 0) + count
    started = time.perf_counter()
    acknowledged, latencies = _load(url, events)
    deadline = time.perf_counter() + 60
    while (counted := int(ctx.redis.get(counter) or 0)) < expected:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the alert counted {counted} of {expected} messages")
        time.sleep(POLL)
    return Round(time.perf_counter() - started, acknowledged, latencies)


def _alert_counter(ctx: Context) -> str:
    """The key of the storm's alert's count, once the alert is raised (the namespace's only one)."""

    def find() -> str | None:
        for key in ctx.redis.scan_iter(match=ctx.keys.alert_fingerprint("*"), count=1000):
            alert_id = optional_text(ctx.redis.get(key))
            return ctx.keys.alert_count(alert_id) if alert_id else None
        return None

    counter: str = wait_for(find, 30, "the alert")
    return counter


def _learn_alert_channel(url: str, ctx: Context, env: dict[str, str]) -> None:
    """A message in the alert channel that matches no rule is held; a burst worker learns the
    channel's ID from Slack and replays it.
    """
    response = signed_post(url, event_body(message("Golden Path deploy finished"), "EvLearn"), headers=JSON_HEADERS)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")
    wait_for(lambda: ctx.redis.llen(ctx.keys.held_messages) == 1, 10, "the message to be held")
    worker = run_worker(env, "--queues", "notify")
    learned = optional_text(ctx.redis.get(ctx.keys.alert_channel_id))
    if learned != ALERT_CHANNEL_ID or ctx.redis.llen(ctx.keys.held_messages):
        raise RuntimeError(f"the alert channel's ID was not learned (got {learned!r}): {worker.stderr[-2000:]}")


def _rounds(url: str, ctx: Context, slack: SlackStandIn) -> tuple[list[Round], list[Round]]:
    """The warm-up, then help and storm rounds alternately: (the help rounds, the storm rounds)."""
    _help(url, slack, WARMUP)
    _load(url, [(event_body(message(MANUAL_LINE), f"EvW{i:04d}"), JSON_HEADERS) for i in range(WARMUP)])
    counter = _alert_counter(ctx)
    wait_for(lambda: int(ctx.redis.get(counter) or 0) >= WARMUP, 30, "the alert to count the warm-up")
    helps = [_help(url, slack, MESSAGES)]
    storms = []
    for round_ in range(ROUNDS):
        storms.append(_storm(url, ctx, str(round_), MESSAGES, counter))
        helps.append(_help(url, slack, MESSAGES))
    return helps, storms


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def _card_calls(slack: SlackStandIn) -> list[float]:
    """When the stand-in received each post or update of an alert card (monotonic seconds)."""
    return sorted(c.at for c in slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")
                  if (c.params.get("metadata") or {}).get("event_type") == "rollbot_alert")  # fmt: skip


def _outcome(
    ctx: Context, slack: SlackStandIn, pagerduty: PagerDutyStandIn, total: int, started: float
) -> dict[str, Any]:
    """Wait for the rollback to end and the card to count all `total` messages; what the storm produced."""
    runs = wait_for(lambda: [r for r in ctx.runs.recent(10) if r.actor == "automation"], 30, "the rollback")
    wait_for(lambda: not ctx.runs.get(runs[0].run_id).is_active, 60, "the rollback to end")
    seen = f"seen {total} times"
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


def _ratios(storms: list[Round], helps: list[Round], acknowledged: bool = False) -> list[float]:
    """Each storm round ÷ the mean of the help rounds just before and after it."""

    def took(round_: Round) -> float:
        return round_.acknowledged if acknowledged else round_.seconds

    return [took(storm) / ((took(before) + took(after)) / 2)
            for storm, before, after in zip(storms, helps[:-1], helps[1:], strict=True)]  # fmt: skip


def _intake_row(helps: list[Round], storms: list[Round]) -> Row:
    ratios = _ratios(storms, helps)
    ratio = statistics.median(ratios)
    storm = statistics.median(s.seconds for s in storms)
    storm_ack = statistics.median(s.acknowledged for s in storms)
    help_ = statistics.median(h.seconds for h in helps)
    storm_latencies = [latency for s in storms for latency in s.latencies]
    help_latencies = [latency for h in helps for latency in h.latencies]
    return Row("alert storm intake", f"{MESSAGES:,} identical alert messages vs {MESSAGES:,} `/rollback help` "
               f"commands, {THREADS} threads, same `rollbot web`, no worker running: time until all are taken in "
               f"(acknowledged; the messages also counted by the alert), {ROUNDS} storm rounds each between two help "
               "rounds", ratio, f"median ≤ {TARGET}×", ratio <= TARGET,
               f"storm {storm:.2f} s ({MESSAGES / storm:.0f}/s), all acknowledged after {storm_ack:.2f} s (p50 "
               f"{_percentile(storm_latencies, 50):.1f} ms, p99 {_percentile(storm_latencies, 99):.1f} ms); help "
               f"{help_:.2f} s ({MESSAGES / help_:.0f}/s; p50 {_percentile(help_latencies, 50):.1f} ms, p99 "
               f"{_percentile(help_latencies, 99):.1f} ms); medians of {ROUNDS} and {ROUNDS + 1} rounds after "
               f"{WARMUP} of each; storm rounds ÷ the help rounds around them: "
               f"{', '.join(f'{r:.2f}×' for r in ratios)} (to acknowledge only: "
               f"{', '.join(f'{r:.2f}×' for r in _ratios(storms, helps, acknowledged=True))})")  # fmt: skip


def _outcome_row(outcome: dict[str, Any], total: int) -> Row:
    calls = outcome["calls"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    closest = min(gaps) if gaps else float("inf")
    rate = CARD_UPDATE_SECONDS / closest  # ≤ 1: never two card calls within CARD_UPDATE_SECONDS
    produced = (outcome["cards"], outcome["rollbacks"], outcome["pages"]) == (1, 1, 1)
    counted = outcome["count"] == total and outcome["status"] == "succeeded" and not outcome["slack_errors"]
    spaced = closest >= CARD_UPDATE_SECONDS - GAP_MARGIN
    return Row("alert storm outcome", f"what {total:,} identical alert messages produced once a worker started: "
               "cards, rollbacks, pages, and the closest two card calls (1 s ÷ their gap)", rate, "1 card, 1 "
               "rollback, 1 page; ≤ 1 card call a second", produced and counted and spaced, f"{outcome['cards']} "
               f"card, {outcome['rollbacks']} rollback ({outcome['status']}), {outcome['pages']} page; the card "
               f"counted {outcome['count']} messages in {len(calls)} card calls over {outcome['settled']:.1f} s "
               f"(worker started → rollback done → card final), closest {closest:.2f} s apart; "
               f"{outcome['slack_errors']} Slack errors")  # fmt: skip


def run() -> list[Row]:
    """The alert channel learned, then help and storm rounds alternately with no worker running;
    then a worker, and what the storm produced.
    """
    redis = Redis.from_url(REDIS_URL)
    ca = trustme.CA()
    slack = SlackStandIn().start()
    pagerduty = PagerDutyStandIn(ca).start()
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    ctx = Context(redis, Keys(namespace), Settings(rollbot_namespace=namespace, redis_url=REDIS_URL), Redactor([]))
    total = WARMUP + ROUNDS * MESSAGES
    web = worker = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            repo = make_repo(Path(tmp) / "service")
            env = _env(namespace, Path(tmp) / "runbook.yaml", slack, pagerduty, bundle)
            with_checkpoint(ctx, env, repo, AUTO_RULE)
            web, base = start_web(env)
            url = f"{base}/slack/events"
            _learn_alert_channel(url, ctx, env)
            helps, storms = _rounds(url, ctx, slack)
            started = time.monotonic()
            worker = start_worker(env)
            outcome = _outcome(ctx, slack, pagerduty, total, started)
    finally:
        if worker is not None:
            stop_worker(worker)
        if web is not None:
            stop(web)
        slack.stop()
        pagerduty.stop()
        clean(redis, namespace)
    return [_intake_row(helps, storms), _outcome_row(outcome, total)]


if __name__ == "__main__":
    print_rows(run())
