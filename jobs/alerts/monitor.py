"""The golden-path monitor: polls each runbook health source on the `monitor` queue (RQ's
scheduler, every `interval`) and decides like Argo Rollouts' analysis runs.

Each measurement is *successful*, *failed* (a rollback limit crossed), *inconclusive* (only an
alert limit crossed) or *error* (the source could not be read). Failed measurements among the
last `window` more than `failure_limit` = a breach: one alert, acted upon per `on_breach`. Errors
count apart: more than `consecutive_error_limit` in a row page once ("monitor blind") and never
roll back. An inconclusive measurement asks a person. A successful one resolves the open alert,
unless its rollback is still running; one that is not successful after the rollback ended offers
the next level.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from jobs import chains
from jobs.alerts import response as alert_response
from jobs.context import Context
from jobs.core.exceptions import RunNotFoundError
from jobs.core.task_names import Task
from jobs.host.health import http_client, metric_value
from jobs.records import measurements
from jobs.records.alerts import TREND_LENGTH, Alert, AlertKind, new_alert_id
from jobs.runbook.model import HealthSource, Runbook, Threshold, normalize

logger = logging.getLogger(__name__)

Outcome = Literal["successful", "inconclusive", "failed", "error"]
_SEVERITY: dict[Outcome, int] = {"successful": 0, "inconclusive": 1, "failed": 2, "error": 3}


class Measurement(BaseModel):
    """One poll of a health source."""

    at: datetime
    outcome: Outcome
    metric: str  # the metric that decided the outcome (the first one when all are fine)
    value: float | None = None
    threshold: str = ""
    values: dict[str, float] = {}
    detail: str


class MonitorState(BaseModel):
    """What the monitor remembers of a source between polls."""

    window: list[Measurement] = []  # the last `window` readable measurements, oldest first
    consecutive_errors: int = 0
    alert_id: str | None = None  # the open breach or inconclusive alert
    blind_alert_id: str | None = None
    last: Measurement | None = None


# --- measuring --------------------------------------------------------------------------------


def classify(name: str, threshold: Threshold, value: float, baseline: dict[str, Any] | None) -> tuple[Outcome, str]:
    """How one metric's value compares with its limits (fractions ≤ 1, percentages > 1)."""
    checks: list[tuple[float | None, Outcome, bool]] = [
        (threshold.rollback_below, "failed", True),
        (threshold.alert_below, "inconclusive", True),
        (threshold.rollback_above, "failed", False),
        (threshold.alert_above, "inconclusive", False),
    ]
    reference = metric_value(baseline, threshold, name) if baseline is not None else None
    if reference is not None:
        for relative, outcome in ((threshold.rollback_above_baseline, "failed"),
                                  (threshold.alert_above_baseline, "inconclusive")):  # fmt: skip
            if relative is not None:
                checks.append((reference * (1 + normalize(relative)), outcome, False))  # type: ignore[arg-type]
    for limit, outcome, below in checks:
        if limit is None:
            continue
        if below and normalize(value) < normalize(limit):
            return outcome, f"< {normalize(limit):g}"
        if not below and value > limit:
            return outcome, f"> {limit:g}"
    return "successful", ""


def read_baseline(runbook: Runbook, source: HealthSource) -> dict[str, Any] | None:
    """The baseline file's values (captured by the phase's preflight), or None when there is none yet."""
    if source.baseline is None:
        return None
    path = Path(runbook.repo) / source.baseline
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def measure(runbook: Runbook, source: HealthSource, ca_bundle: Path | None, now: datetime) -> Measurement:
    """Poll the source once and classify the answer."""
    first = next(iter(source.metrics))
    try:
        with http_client(ca_bundle, source.request_timeout) as client:
            response = client.get(source.url)
    except httpx.HTTPError as error:
        return Measurement(at=now, outcome="error", metric=first, detail=f"GET {source.url}: {type(error).__name__}")
    if not response.is_success:
        return Measurement(at=now, outcome="error", metric=first, detail=f"GET {source.url} → {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        return Measurement(at=now, outcome="error", metric=first, detail=f"GET {source.url}: the answer is not JSON")
    baseline = read_baseline(runbook, source)
    worst = Measurement(at=now, outcome="successful", metric=first, detail="all metrics within limits")
    values: dict[str, float] = {}
    for name, threshold in source.metrics.items():
        value = metric_value(payload, threshold, name)
        if value is None:
            return Measurement(at=now, outcome="error", metric=name, values=values,
                               detail=f"{name} is missing from the answer")  # fmt: skip
        values[name] = value
        outcome, limit = classify(name, threshold, value, baseline)
        if name == first:
            worst.value = value
        if _SEVERITY[outcome] > _SEVERITY[worst.outcome]:
            label = threshold.label or name
            worst = Measurement(at=now, outcome=outcome, metric=name, value=value, threshold=limit,
                                detail=f"{label}: {value:g} {limit}")  # fmt: skip
    worst.values = values
    if baseline is None and any(t.rollback_above_baseline or t.alert_above_baseline for t in source.metrics.values()):
        worst.detail += " (no baseline file yet: baseline limits not checked)"
    return worst


# --- deciding ---------------------------------------------------------------------------------


def _load(ctx: Context, service: str, name: str) -> MonitorState:
    raw = ctx.redis.get(ctx.keys.monitor(service, name))
    return MonitorState.model_validate_json(raw) if raw else MonitorState()


def _save(ctx: Context, service: str, name: str, state: MonitorState) -> None:
    ctx.redis.set(ctx.keys.monitor(service, name), state.model_dump_json(), ex=30 * 86400)


def fingerprint(service: str, source_name: str) -> str:
    """One open alert per health source of a service."""
    return f"health:{service}/{source_name}"


def _new_alert(ctx: Context, runbook: Runbook, name: str, source: HealthSource, m: Measurement, kind: AlertKind,
               trend: list[float | None]) -> Alert:  # fmt: skip
    breach = source.on_breach
    alert = Alert(
        alert_id=new_alert_id(m.at), origin="monitor", source=name, service=runbook.service,
        fingerprint=fingerprint(runbook.service, name) + (":blind" if kind == "blind" else ""), kind=kind,
        metric=m.metric, value=m.value, threshold=m.threshold, detail=m.detail, trend=trend[-TREND_LENGTH:],
        first_seen=m.at, last_seen=m.at,
        phase=breach.phase if breach and kind != "blind" else None, level=breach.level if breach else None,
        mode=breach.mode if breach else None, dry_run=source.dry_run, confirmed=True,
    )  # fmt: skip
    if ctx.alerts.silenced_by(alert.fingerprint):
        alert.state, alert.silenced_by = "silenced", ctx.alerts.silenced_by(alert.fingerprint)
    ctx.alerts.create(alert)
    ctx.alerts.claim(alert.fingerprint, alert.alert_id, 30 * 86400)
    return alert


def _failures(state: MonitorState) -> int:
    return sum(1 for m in state.window if m.outcome == "failed")


def _run_active(ctx: Context, alert: Alert) -> bool:
    if alert.run_id is None:
        return False
    try:
        return ctx.runs.get(alert.run_id).is_active
    except RunNotFoundError:
        return False


Action = Callable[[], list[threading.Thread]]


def decide(ctx: Context, runbook: Runbook, name: str, source: HealthSource, m: Measurement) -> list[threading.Thread]:
    """Apply one measurement to the source's state, save it, then act (so a failure while acting
    never opens the same breach twice; an alert not acted upon is acted upon at the next poll).
    Returns PagerDuty delivery threads.
    """
    state = _load(ctx, runbook.service, name)
    state.last = m
    actions: list[Action] = []
    if m.outcome == "error":
        state.consecutive_errors += 1
        if state.consecutive_errors > source.consecutive_error_limit and state.blind_alert_id is None:
            blind = _new_alert(ctx, runbook, name, source, m, "blind", [])
            state.blind_alert_id = blind.alert_id
            actions.append(partial(alert_response.act, ctx, runbook, blind.alert_id, source.cooldown, source.url))
    else:
        if state.blind_alert_id is not None:
            answers = f"the health source answers again ({m.detail})"
            actions.append(partial(alert_response.resolve_alert, ctx, state.blind_alert_id, answers))
            state.blind_alert_id = None
        state.consecutive_errors = 0
        state.window = [*state.window, m][-source.window :]
        alert = ctx.alerts.get(state.alert_id) if state.alert_id else None
        if alert is not None and alert.is_open:
            actions += _with_alert(ctx, runbook, source, state, alert, m)
        else:
            state.alert_id = None
            actions += _without_alert(ctx, runbook, name, source, state, m)
    _save(ctx, runbook.service, name, state)
    threads: list[threading.Thread] = []
    for action in actions:
        threads += action()
    return threads


def _without_alert(ctx: Context, runbook: Runbook, name: str, source: HealthSource, state: MonitorState,
                   m: Measurement) -> list[Action]:  # fmt: skip
    if _failures(state) > source.failure_limit:
        kind: AlertKind = "breach"
    elif m.outcome == "inconclusive":
        kind = "inconclusive"
    else:
        return []
    alert = _new_alert(ctx, runbook, name, source, m, kind, [w.value for w in state.window])
    state.alert_id = alert.alert_id
    if kind == "breach":
        state.window = []  # the next breach is judged on fresh measurements
    return [partial(alert_response.act, ctx, runbook, alert.alert_id, source.cooldown, source.url)]


def _with_alert(ctx: Context, runbook: Runbook, source: HealthSource, state: MonitorState, alert: Alert,
                m: Measurement) -> list[Action]:  # fmt: skip
    breached = _failures(state) > source.failure_limit
    breach = source.on_breach

    def seen(current: Alert) -> None:
        current.seen(m.value, m.detail, m.at)
        alert_response.end_silence_if_due(current, m.at)
        if breached and current.run_id is None and (current.kind == "inconclusive" or not current.confirmed):
            # An inconclusive alert, or one a message raised, is now a breach the monitor measured:
            # it is acted upon as this source's breach.
            current.kind, current.confirmed, current.acted_as = "breach", True, None
            current.threshold, current.dry_run = m.threshold, source.dry_run
            if breach is not None:
                current.phase, current.level, current.mode = breach.phase, breach.level, breach.mode

    alert = ctx.alerts.update(alert.alert_id, seen) or alert
    act = partial(alert_response.act, ctx, runbook, alert.alert_id, source.cooldown, source.url)
    running = _run_active(ctx, alert)
    if m.outcome == "successful" and not running:
        state.alert_id, state.window = None, []
        why = f"recovered after run `{alert.run_id}`" if alert.run_id else "recovered"
        return [partial(alert_response.resolve_alert, ctx, alert.alert_id, f"{why}: {m.detail}")]
    if alert.acted_as != alert.kind:  # newly a breach, or the last attempt to act did not finish
        if alert.kind == "breach":
            state.window = []
        return [act]
    if alert.run_id and not running and m.outcome != "successful":
        return [partial(_offer_next_level, ctx, runbook, alert.alert_id, m.detail)]
    alert_response.request_card_update(ctx, alert.alert_id)
    return []


def _offer_next_level(ctx: Context, runbook: Runbook, alert_id: str, why: str) -> list[threading.Thread]:
    alert_response.offer_next_level(ctx, runbook, alert_id, why)
    return []


def adopt(ctx: Context, service: str, name: str, alert_id: str) -> str | None:
    """The alert that owns the source's current episode: its open alert if it has one, else the
    message alert `alert_id`, which the monitor then resolves on recovery, acts upon when it
    measures the breach itself, or follows up after its rollback. None when the state is busy.
    """
    lock = _poll_lock(ctx, service, name, blocking_timeout=10.0)
    if not lock.acquire():
        return None
    try:
        state = _load(ctx, service, name)
        if state.alert_id is not None:
            current = ctx.alerts.get(state.alert_id)
            if current is not None and current.is_open:
                return current.alert_id
        state.alert_id = alert_id
        _save(ctx, service, name, state)
        return alert_id
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def _poll_lock(ctx: Context, service: str, name: str, blocking_timeout: float, timeout: int = 60) -> Lock:
    """The lock that makes one process at a time read and write a source's monitor state."""
    return Lock(ctx.redis, f"{ctx.keys.monitor(service, name)}:lock", timeout=timeout,
                blocking_timeout=blocking_timeout, thread_local=False)  # fmt: skip


def poll_once(ctx: Context, runbook: Runbook, name: str, source: HealthSource) -> list[threading.Thread]:
    """Measure the source and act, one poll of a source at a time (across all workers)."""
    lock = _poll_lock(
        ctx, runbook.service, name, max(5.0, source.interval), timeout=max(60, int(source.request_timeout) + 30)
    )
    if not lock.acquire():
        logger.warning("health source %s of %s: previous poll still running; skipped", name, runbook.service)
        return []
    try:
        measurement = measure(runbook, source, ctx.settings.ca_bundle, ctx.clock())
        ctx.redis.set(f"{ctx.keys.monitor(runbook.service, name)}:last-poll", measurement.model_dump_json(), ex=86400)
        point = measurements.Point(at=measurement.at, outcome=measurement.outcome, values=measurement.values)
        measurements.record(ctx.redis, ctx.keys, runbook.service, name, point)  # the report's chart
        return decide(ctx, runbook, name, source, measurement)
    finally:
        with contextlib.suppress(LockError):
            lock.release()


# --- the poll chain (RQ's scheduler) ------------------------------------------------------------


def chain_name(service: str, source_name: str) -> str:
    """The poll chain's name: `service/source`."""
    return f"{service}/{source_name}"


def parse_chain_name(name: str) -> tuple[str, str]:
    """(service, source) of a poll chain's name."""
    service, _, source_name = name.rpartition("/")
    return service, source_name


def poll_chain(name: str) -> chains.Chain:
    """The chain polling the health source `name` (`service/source`)."""
    return chains.Chain(name, Task.MONITOR_POLL, f"poll health source {name}")


def schedule_next(ctx: Context, name: str, source: HealthSource, generation: str, delay: float) -> None:
    """Queue the chain's next poll `delay` seconds from now (RQ's scheduler moves it to the queue)."""
    chains.schedule(ctx, poll_chain(name), generation, delay, source.interval, int(source.request_timeout) + 120)


def schedule_retry(ctx: Context, name: str, generation: str) -> None:
    """Keep the chain alive while the runbook cannot be read: poll again at the last known interval."""
    interval = chains.last_interval(ctx, name)
    chains.schedule(ctx, poll_chain(name), generation, interval, interval, 180)


def chain_is_current(ctx: Context, name: str, generation: str) -> bool:
    """Whether `generation` is the source's current chain (a restarted chain stops the old one)."""
    return chains.is_current(ctx, name, generation)


def ensure_monitors(ctx: Context, runbook: Runbook) -> list[str]:
    """Start a poll chain for every health source of the runbook that has none, or whose chain
    stalled (its next poll long overdue). Safe to call from every worker: one start per source.
    Returns the started chains' names.
    """
    started = []
    for source_name, source in runbook.health.items():
        name = chain_name(runbook.service, source_name)
        try:
            if not chains.ensure(ctx, poll_chain(name), source.interval, int(source.request_timeout) + 120):
                continue
        except RedisError as error:
            logger.error("health source %s: monitor not started: %s", name, error)
            continue
        logger.info("monitoring health source %s every %ss", name, source.interval)
        started.append(name)
    return started
