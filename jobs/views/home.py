"""The App Home dashboard on workers: what it shows of each service, publishing it for one person
(`views.publish`), and refreshing it for everyone who opened it in the last hour when a run, alert
or incident changes (at most once a second).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from jobs.alerts.monitor import MonitorState
from jobs.context import Context
from jobs.core.exceptions import RunbookError
from jobs.core.task_names import Task
from jobs.records.alerts import Alert
from jobs.records.incidents import Incident
from jobs.runbook.catalog import Catalog, catalog
from jobs.runbook.model import HealthSource, Runbook
from jobs.runs import readiness
from jobs.slack.blocks.alert import format_value
from jobs.slack.blocks.home import ServiceHome, home_view

logger = logging.getLogger(__name__)

VIEWER_SECONDS = 3600  # a Home opened this long ago is still refreshed
REFRESH_SECONDS = 1.0  # never two refreshes of the open Homes within this
RECENT_RUNS = 5
SCAN_LIMIT = 2000  # alert and incident keys looked at for the open ones


def _limits(source: HealthSource, metric: str) -> str:
    threshold = source.metrics.get(metric)
    if threshold is None:
        return ""
    parts = [f"{word} {value:g}" for word, value in (("alert below", threshold.alert_below),
             ("roll back below", threshold.rollback_below), ("alert above", threshold.alert_above),
             ("roll back above", threshold.rollback_above)) if value is not None]  # fmt: skip
    return f" (limits: {', '.join(parts)})" if parts else ""


def health_lines(ctx: Context, book: Runbook) -> list[str]:
    """Each health source's last measurement, value against limits (from the monitor's state)."""
    lines = []
    for name, source in book.health.items():
        raw = ctx.redis.get(ctx.keys.monitor(book.service, name))
        last = MonitorState.model_validate_json(raw).last if raw else None
        if last is None:
            lines.append(f"• {name}: not measured yet")
            continue
        icon = {"successful": "🟢", "inconclusive": "🟡", "failed": "🔴", "error": "⚪"}[last.outcome]
        values = ", ".join(f"{metric} {format_value(value)}{_limits(source, metric)}"
                           for metric, value in last.values.items()) or last.detail  # fmt: skip
        age = int((ctx.clock() - last.at).total_seconds())
        lines.append(f"{icon} {name}: {values} — {last.outcome}, {age}s ago")
    return lines


def _open_records(ctx: Context, kind: str) -> list[str]:
    """Ids of alerts or incidents (`kind`: `alert`, `incident`) stored under the namespace."""
    prefix = f"{ctx.keys.namespace}:{kind}:"
    found = []
    for key in ctx.redis.scan_iter(match=f"{prefix}*", count=500):
        rest = (key.decode() if isinstance(key, bytes) else str(key))[len(prefix) :]
        if ":" not in rest:
            found.append(rest)
        if len(found) >= SCAN_LIMIT:
            break
    return found


def open_alerts(ctx: Context) -> list[Alert]:
    """Alerts not resolved, newest first."""
    alerts = [a for a in (ctx.alerts.get(i) for i in _open_records(ctx, "alert")) if a is not None and a.is_open]
    return sorted(alerts, key=lambda a: a.first_seen, reverse=True)


def open_incidents(ctx: Context) -> list[Incident]:
    """Incidents not resolved, newest first."""
    found = [i for i in (ctx.incidents.get(k) for k in _open_records(ctx, "incident")) if i is not None and i.is_open]
    return sorted(found, key=lambda i: i.opened_at, reverse=True)


def service_homes(ctx: Context, books: Catalog) -> list[ServiceHome]:
    """What the dashboard shows of every service."""
    active = ctx.runs.active()
    recent = ctx.runs.recent(50)
    alerts, incidents = open_alerts(ctx), open_incidents(ctx)
    now = ctx.clock()
    homes = []
    for book in books:
        service = book.service
        homes.append(ServiceHome(
            service=service,
            health=health_lines(ctx, book),
            checkpoints=[(phase, ctx.checkpoints.get(service, phase))
                         for phase, p in book.phases.items() if p.checkpoint or p.preflight],
            running=[r for r in active if r.service == service],
            recent=[r for r in recent if r.service == service][:RECENT_RUNS],
            alerts=[a for a in alerts if a.service == service],
            incidents=[i for i in incidents if i.service == service],
            readiness=[readiness.row_text(row, now) for row in readiness.rows(ctx, [book], now) if row.last],
        ))  # fmt: skip
    return homes


def publish(ctx: Context, user: str) -> bool:
    """Publish the dashboard on `user`'s Home tab; False when it could not be."""
    try:
        books = catalog(ctx)
    except RunbookError as error:
        logger.error("App Home of %s not published, the runbook is unreadable: %s", user, error.user_message)
        return False
    return _send(ctx, user, home_view(service_homes(ctx, books), ctx.clock()))


def _send(ctx: Context, user: str, view: View) -> bool:
    try:
        ctx.slack.views_publish(user_id=user, view=view)
    except SlackApiError as error:
        logger.warning("App Home of %s not published: %s", user, error.response.get("error"))
        return False
    return True


def opened(ctx: Context, user: str) -> None:
    """`user` opened the Home tab: refresh it on changes for the next hour."""
    now = time.time()
    with ctx.redis.pipeline() as pipe:
        pipe.zadd(ctx.keys.home_viewers, {user: now})
        pipe.zremrangebyscore(ctx.keys.home_viewers, "-inf", now - VIEWER_SECONDS)
        pipe.expire(ctx.keys.home_viewers, 2 * VIEWER_SECONDS)
        pipe.execute()


def viewers(ctx: Context) -> list[str]:
    """Who opened the Home tab in the last hour."""
    raw = ctx.redis.zrangebyscore(ctx.keys.home_viewers, time.time() - VIEWER_SECONDS, "+inf")
    return [v.decode() if isinstance(v, bytes) else str(v) for v in raw]


def request_refresh(ctx: Context) -> None:
    """Something the dashboard shows changed: have a `notify` worker refresh the open Homes (one
    refresh at a time is due; never raises, the change itself must not suffer from it)."""
    try:
        if not ctx.redis.zcount(ctx.keys.home_viewers, time.time() - VIEWER_SECONDS, "+inf"):
            return
        if ctx.redis.set(ctx.keys.home_due, "1", nx=True, px=60_000):
            ctx.queue("notify").enqueue(Task.REFRESH_HOMES, job_id=ctx.keys.job("home", "refresh"),
                                        description="refresh the open App Homes")  # fmt: skip
    except RedisError as error:
        logger.warning("App Home refresh not scheduled: %s", error)


def refresh(ctx: Context) -> int:
    """Publish the dashboard for everyone who opened it in the last hour, a second after the last
    refresh at the earliest. Returns how many Homes were published."""
    sent_key = f"{ctx.keys.home_due}:sent"
    last = ctx.redis.get(sent_key)
    wait = float(last) + REFRESH_SECONDS - time.time() if last else 0.0
    if wait > 0:
        time.sleep(min(wait, REFRESH_SECONDS))
    ctx.redis.delete(ctx.keys.home_due)  # changes from now on schedule the next refresh
    ctx.redis.set(sent_key, f"{time.time():.3f}", ex=int(timedelta(hours=1).total_seconds()))
    try:
        books = catalog(ctx)
    except RunbookError as error:
        logger.error("App Homes not refreshed, the runbook is unreadable: %s", error.user_message)
        return 0
    view = home_view(service_homes(ctx, books), ctx.clock())
    return sum(1 for user in viewers(ctx) if _send(ctx, user, view))
