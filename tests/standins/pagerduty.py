"""An HTTPS PagerDuty stand-in on a loopback port (certificate from trustme), for the real
`pagerduty` client: Events API v2 (events and change events) and the bits of REST API v2 rollbot
uses (users, incidents). It records what it receives and can answer errors for a while.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import trustme

from tests.standins.server import HttpsStandIn


@dataclass
class Received:
    """One request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 202


@dataclass
class PagerDutyStandIn(HttpsStandIn):
    """`url` is the base for both PAGERDUTY_EVENTS_URL and PAGERDUTY_API_URL."""

    ca: trustme.CA
    received: list[Received] = field(default_factory=list)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)  # by dedup key
    users: list[dict[str, str]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)  # incidents a new trigger replaced
    fail_events: list[int] = field(default_factory=list)  # statuses for the next /v2/enqueue calls

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(100)
        self._serve_tls()

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.incidents.clear()
            self.resolved.clear()
            self.users.clear()
            self.fail_events.clear()

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        """Events API events that were accepted, optionally of one `event_action`."""
        with self._lock:
            bodies = [r.body for r in self.received if r.path == "/v2/enqueue" and r.status == 202]
        return [b for b in bodies if action is None or b.get("event_action") == action]

    def change_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.received if r.path == "/v2/change/enqueue" and r.status == 202]

    def set_status(self, key: str, status: str) -> None:
        """Change an incident in PagerDuty itself (someone acted in PagerDuty's own UI)."""
        with self._lock:
            self.incidents[key]["status"] = status

    def rest_calls(self, method: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == method and not r.path.startswith("/v2/")]

    # --- serving ------------------------------------------------------------------------

    def _events_api(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/v2/change/enqueue":
            return 202, {"status": "success", "message": "Change event processed"}
        with self._lock:
            if self.fail_events:
                return self.fail_events.pop(0), {"status": "error", "message": "stand-in failure"}
            key = body.get("dedup_key") or f"auto-{next(self._ids)}"
            action = body.get("event_action")
            if action == "trigger":
                if self.incidents.get(key, {}).get("status") == "resolved":  # as PagerDuty: a new incident
                    self.resolved.append(self.incidents.pop(key))
                incident = self.incidents.setdefault(key, {"id": f"PINC{next(self._ids)}", "incident_key": key,
                                                           "status": "triggered"})  # fmt: skip
                incident["title"] = body.get("payload", {}).get("summary")
            elif key in self.incidents:
                self.incidents[key]["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}

    def _rest_api(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        page = {"limit": 25, "offset": 0, "more": False, "total": None}
        with self._lock:
            if method == "GET" and path == "/users":
                wanted = (query.get("query") or [""])[0].lower()
                return 200, {"users": [u for u in self.users if wanted in u["email"].lower()], **page}
            if method == "GET" and path == "/incidents":
                key: str | None = (query.get("incident_key") or [""])[0] or None
                found = [i for k, i in self.incidents.items() if key in (None, k)]
                return 200, {"incidents": found, **page}
            if method == "GET" and path.startswith("/incidents/"):
                pd_id = path.rsplit("/", 1)[1]
                incident = next((i for i in self.incidents.values() if i["id"] == pd_id), None)
                if incident is None:
                    return 404, {"error": {"message": "Not Found"}}
                return 200, {"incident": incident}
            if method == "PUT" and path.startswith("/incidents/"):
                pd_id = path.rsplit("/", 1)[1]
                incident = next((i for i in self.incidents.values() if i["id"] == pd_id), None)
                if incident is None:
                    return 404, {"error": {"message": "Not Found"}}
                incident["status"] = body.get("incident", {}).get("status", incident["status"])
                return 200, {"incident": incident}
        return 404, {"error": {"message": f"stand-in has no {method} {path}"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else {}
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path.startswith("/v2/"):
                    status, answer = standin._events_api(url.path, body)
                else:
                    status, answer = standin._rest_api(self.command, url.path, query, body)
                with standin._lock:
                    standin.received.append(Received(self.command, url.path, query, dict(self.headers.items()),
                                                     body, status))  # fmt: skip
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

        return Handler
