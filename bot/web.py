"""The WSGI application: Slack at /slack/events, plus /healthz, /metrics and /pagerduty/webhook."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Worker
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.pagerduty_webhook import handle as pagerduty_webhook_handle
from jobs.context import Context
from jobs.factory import get_queues, get_web_context

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
WSGIApp = Callable[["WSGIEnvironment", "StartResponse"], Iterable[bytes]]


def health(ctx: Context) -> tuple[int, dict[str, object]]:
    """200 with queue and worker counts when Redis answers; 503 otherwise."""
    try:
        ctx.redis.ping()
        queues = get_queues(ctx.redis)
        lengths = {q.name.split(":")[-1]: q.count for q in queues}
        workers = Worker.count(connection=ctx.redis, queue=queues[0])
    except RedisError as error:
        return 503, {"status": "unavailable", "redis": f"down: {type(error).__name__}"}
    return 200, {"status": "ok", "redis": "up", "workers": workers, "queues": lengths}


class StateCollector(Collector):
    """Gauges read from Redis at scrape time, so every web process reports the same numbers."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        """Redis up, active runs, queue lengths, workers."""
        up = GaugeMetricFamily("rollbot_redis_up", "1 when Redis answers")
        try:
            queues = get_queues(self.ctx.redis)
            lengths = {q.name.split(":")[-1]: q.count for q in queues}
            active = len(self.ctx.runs.active())
            workers = Worker.count(connection=self.ctx.redis, queue=queues[0])
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("rollbot_runs_active", "Queued and running runs", value=active)
        yield GaugeMetricFamily("rollbot_workers", "Workers listening on the rollback queue", value=workers)
        queue_jobs = GaugeMetricFamily("rollbot_queue_jobs", "Jobs waiting per queue", labels=["queue"])
        for name, length in lengths.items():
            queue_jobs.add_metric([name], length)
        yield queue_jobs


def _json(start_response: StartResponse, status: int, payload: dict[str, object]) -> list[bytes]:
    reason = HTTPStatus(status).phrase
    start_response(f"{status} {reason}", [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


def create_wsgi_app(bolt_app: App, ctx: Context | None = None) -> WSGIApp:
    """Route requests to Bolt, health, metrics and (issue #4) the PagerDuty webhook."""
    ctx = ctx or get_web_context()
    slack = SlackRequestHandler(bolt_app, path="/slack/events")
    registry = CollectorRegistry()
    registry.register(StateCollector(ctx))
    metrics = make_wsgi_app(registry)

    def slack_events(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _json(start_response, 405, {"error": "POST only"})
        response: Iterable[bytes] = slack(environ, start_response)
        return response

    def healthz(_environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status, payload = health(ctx)
        return _json(start_response, status, payload)

    def pagerduty_webhook(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _json(start_response, 405, {"error": "POST only"})
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        status, payload = pagerduty_webhook_handle(ctx, body, environ.get("HTTP_X_PAGERDUTY_SIGNATURE"))
        return _json(start_response, status, payload)

    routes: dict[str, WSGIApp] = {
        "/slack/events": slack_events,
        "/healthz": healthz,
        "/metrics": metrics,
        "/pagerduty/webhook": pagerduty_webhook,
    }

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if int(environ.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            return _json(start_response, 413, {"error": "request body over 1 MB"})
        route = routes.get(environ.get("PATH_INFO", ""))
        if route is None:
            return _json(start_response, 404, {"error": "no such route"})
        return route(environ, start_response)

    return application
