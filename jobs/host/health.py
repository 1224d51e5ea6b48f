"""HTTP health checks used by steps: one request, or polling until a service is healthy."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from jobs.runbook.model import HealthSource, Threshold, normalize


@dataclass(frozen=True)
class CheckResult:
    """Whether a check passed, and a line saying what was seen."""

    ok: bool
    detail: str


def http_client(ca_bundle: Path | None, timeout: float) -> httpx.Client:
    """An httpx client trusting `CA_BUNDLE` when it is set (the system's trust otherwise)."""
    verify = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    return httpx.Client(verify=verify, timeout=timeout, follow_redirects=True)


def metric_value(payload: Any, threshold: Threshold, name: str) -> float | None:
    """The metric's number in a JSON payload (`field` is a dotted path, default the metric name)."""
    node = payload
    for part in (threshold.field or name).split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    return float(node)


def _lowest_allowed(threshold: Threshold) -> float | None:
    limits = [normalize(v) for v in (threshold.alert_below, threshold.rollback_below) if v is not None]
    return max(limits) if limits else None


def _highest_allowed(threshold: Threshold) -> float | None:
    limits = [v for v in (threshold.alert_above, threshold.rollback_above) if v is not None]
    return min(limits) if limits else None


def unhealthy_metrics(source: HealthSource, payload: Any) -> list[str]:
    """Metrics outside their limits, alert or rollback, whichever is stricter; a metric with limits
    that is missing from the payload counts as unhealthy. (Baseline-relative limits need a
    baseline and are judged by the monitor, not here.)
    """
    problems = []
    for name, threshold in source.metrics.items():
        low, high = _lowest_allowed(threshold), _highest_allowed(threshold)
        if low is None and high is None:
            continue
        value = metric_value(payload, threshold, name)
        if value is None:
            problems.append(f"{name} missing")
        elif low is not None and normalize(value) < low:
            problems.append(f"{name} {value:g} < {low:g}")
        elif high is not None and value > high:
            problems.append(f"{name} {value:g} > {high:g}")
    return problems


def http_check(url: str, method: str, expect_status: int | None, timeout: float, ca_bundle: Path | None) -> CheckResult:
    """One request; passes on `expect_status` (any 2xx when None)."""
    try:
        with http_client(ca_bundle, timeout) as client:
            response = client.request(method, url)
    except httpx.HTTPError as error:
        return CheckResult(False, f"{method} {url}: {type(error).__name__}: {error}")
    ok = response.status_code == expect_status if expect_status else response.is_success
    return CheckResult(ok, f"{method} {url} → {response.status_code}")


def probe(url: str, source: HealthSource | None, timeout: float, ca_bundle: Path | None) -> CheckResult:
    """Healthy = 2xx and, for a health source, every metric within its alert and rollback limits."""
    try:
        with http_client(ca_bundle, timeout) as client:
            response = client.get(url)
    except httpx.HTTPError as error:
        return CheckResult(False, f"GET {url}: {type(error).__name__}")
    if not response.is_success:
        return CheckResult(False, f"GET {url} → {response.status_code}")
    if source is None:
        return CheckResult(True, f"GET {url} → {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        return CheckResult(False, f"GET {url}: answer is not JSON")
    problems = unhealthy_metrics(source, payload)
    return CheckResult(not problems, "; ".join(problems) or f"GET {url}: all metrics within limits")


def wait_until_healthy(
    url: str,
    source: HealthSource | None,
    interval: float,
    deadline: float,
    should_stop: Callable[[], str | None],
    ca_bundle: Path | None,
    report: Callable[[str], None],
) -> CheckResult | None:
    """Probe every `interval` until healthy (a passing result) or `deadline` (the last failing
    result). None when `should_stop` asked to stop.
    """
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        result = probe(url, source, timeout=max(0.5, min(10.0, remaining)), ca_bundle=ca_bundle)
        report(f"[{attempt}] {'healthy' if result.ok else 'not healthy'}: {result.detail}")
        if result.ok:
            return result
        wake = min(deadline, time.monotonic() + interval)
        while time.monotonic() < wake:
            if should_stop() is not None:
                return None
            time.sleep(min(0.2, max(0.0, wake - time.monotonic())))
        if time.monotonic() >= deadline:
            return result
