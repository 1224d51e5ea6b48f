"""The WSGI application: Slack at /slack/events, plus /healthz, /metrics and /pagerduty/webhook."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Worker
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.request import BoltRequest

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


def _content_length(environ: WSGIEnvironment) -> int | None:
    """The request's `Content-Length` (0 when absent); None when it is not a number."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return length if length >= 0 else None


def _read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, read once; `environ` gets a fresh stream over it for the next reader."""
    body: bytes = environ["wsgi.input"].read(_content_length(environ) or 0)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _bolt_can_parse(body: bytes, environ: WSGIEnvironment) -> bool:
    """Whether Bolt can read the request: its body UTF-8, a JSON object or a form, with the shape
    Bolt expects of the fields it reads first (it raises, a 500, on anything else).
    """
    headers: dict[str, str | Sequence[str]] = {"content-type": str(environ.get("CONTENT_TYPE", ""))}
    try:
        request = BoltRequest(body=body.decode("utf-8"), query=str(environ.get("QUERY_STRING", "")), headers=headers)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):  # UnicodeDecodeError, JSONDecodeError…
        return False
    return isinstance(request.body, dict)


SIGNATURE_MAX_AGE_SECONDS = 300  # as Slack's SDKs: older timestamps are replays


def slack_signature_valid(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    """True when `signature` is Slack's `v0=` HMAC-SHA256 of the raw `body` (bytes, whatever they
    hold) under `secret`, for a timestamp within five minutes. Compared in constant time.
    """
    try:
        if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
            return False
    except ValueError:
        return False
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={digest}".encode(), signature.encode("latin-1", "replace"))


def _is_ssl_check(body: bytes) -> bool:
    """Slack's unsigned `ssl_check=1` probe of a slash command URL (Bolt answers it)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"))).get("ssl_check") == "1"
    except ValueError:
        return False


def create_wsgi_app(bolt_app: App, ctx: Context | None = None) -> WSGIApp:
    """Route requests to Bolt, health, metrics and (issue #4) the PagerDuty webhook."""
    ctx = ctx or get_web_context()
    slack = SlackRequestHandler(bolt_app, path="/slack/events")
    registry = CollectorRegistry()
    registry.register(StateCollector(ctx))
    metrics = make_wsgi_app(registry)
    secret = ctx.settings.slack_signing_secret.get_secret_value() if ctx.settings.slack_signing_secret else None

    def slack_events(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Signed requests go to Bolt; unsigned ones get 401 and undecodable ones 400 before Bolt
        parses them (its parsing raises on bodies that are not UTF-8 JSON or forms: a 500).
        """
        if environ.get("REQUEST_METHOD") != "POST":
            return _json(start_response, 405, {"error": "POST only"})
        body = _read_body(environ)
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "0"))
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
        if (
            secret is not None
            and not slack_signature_valid(secret, body, timestamp, signature)
            and not _is_ssl_check(body)
        ):
            logger.warning("Slack request with a bad or missing signature refused")
            return _json(start_response, 401, {"error": "invalid request"})
        if body and not _bolt_can_parse(body, environ):
            logger.warning("Slack request refused: its body is not a UTF-8 JSON object or form")
            return _json(start_response, 400, {"error": "body is not a JSON object or form"})
        response: Iterable[bytes] = slack(environ, start_response)
        return response

    def healthz(_environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status, payload = health(ctx)
        return _json(start_response, status, payload)

    def pagerduty_webhook(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _json(start_response, 405, {"error": "POST only"})
        body = _read_body(environ)
        status, payload = pagerduty_webhook_handle(ctx, body, environ.get("HTTP_X_PAGERDUTY_SIGNATURE"))
        return _json(start_response, status, payload)

    routes: dict[str, WSGIApp] = {
        "/slack/events": slack_events,
        "/healthz": healthz,
        "/metrics": metrics,
        "/pagerduty/webhook": pagerduty_webhook,
    }

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = _content_length(environ)
        if length is None:
            return _json(start_response, 400, {"error": "malformed Content-Length"})
        if length > MAX_BODY_BYTES:
            return _json(start_response, 413, {"error": "request body over 1 MB"})
        route = routes.get(environ.get("PATH_INFO", ""))
        if route is None:
            return _json(start_response, 404, {"error": "no such route"})
        return route(environ, start_response)

    return application
