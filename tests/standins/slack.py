"""A small Slack Web API stand-in on a loopback port, in the manner of bolt-python's own tests:
it records every call, answers like Slack, and can be told to answer 429 or 500 for a while.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from tests.standins.server import LoopbackServer

CHANNEL_IDS = {"#critical-alerts": "C0ALERTS", "#oncall": "C0ONCALL", "#random": "C0RANDOM"}


@dataclass
class Call:
    """One request the stand-in received."""

    method: str  # Web API method, or "response_url", or "upload"
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    status: int = 200


@dataclass
class Failure:
    """Answer the next `count` API calls (matching `methods`, all when empty) with `status`."""

    count: int
    status: int
    retry_after: int | None = None
    methods: tuple[str, ...] = ()
    until: float | None = None  # or: fail every matching call until this monotonic time
    error: str = "ratelimited"  # the `error` of the answer (with status 200: an API error like Slack's)


def _parse(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    if "json" in content_type:
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    for key in ("blocks", "metadata", "files", "view"):
        if isinstance(fields.get(key), str):
            with contextlib.suppress(ValueError):
                fields[key] = json.loads(fields[key])
    return fields


class SlackStandIn:
    """Start with `start()`; `url` is the Web API base for `SLACK_API_URL`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.group_members: dict[str, list[str]] = {}
        self.user_emails: dict[str, str] = {}
        self.extra_channels: list[dict[str, str]] = []  # listed by conversations.list after CHANNEL_IDS
        self.socket_url: str | None = None  # what apps.connections.open answers (a Socket Mode stand-in)
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = LoopbackServer(self._handler())

    @property
    def base(self) -> str:
        return self._server.base

    @property
    def url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A `response_url` for signed requests; what is posted to it is recorded."""
        return f"{self.base}/response/{name}"

    def start(self) -> SlackStandIn:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.failures.clear()
            self.group_members.clear()
            self.user_emails.clear()
            self.extra_channels.clear()
            self.socket_url = None

    def fail(self, failure: Failure) -> None:
        with self._lock:
            self.failures.append(failure)

    def calls_to(self, method: str, ok_only: bool = True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 30) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                calls = list(self.calls)
            if predicate(calls):
                return calls
            time.sleep(0.05)
        raise AssertionError(f"the Slack stand-in never saw the expected calls; it saw {[c.method for c in calls]}")

    # --- serving ------------------------------------------------------------------------

    def _failure_for(self, method: str) -> Failure | None:
        with self._lock:
            for failure in self.failures:
                if failure.methods and method not in failure.methods:
                    continue
                if failure.until is not None:
                    if time.monotonic() < failure.until:
                        return failure
                    continue
                if failure.count > 0:
                    failure.count -= 1
                    return failure
        return None

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        channel = CHANNEL_IDS.get(str(params.get("channel", "")), params.get("channel") or "C0ALERTS")
        if method == "auth.test":
            return {"ok": True, "user_id": "UROLLBOT", "bot_id": "BROLLBOT", "team_id": "T0TEST", "url": self.base}
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ts)}.000100"
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text"), "ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": params.get("ts")}
        if method == "chat.getPermalink":
            return {"ok": True, "permalink": f"https://slack.example/archives/{channel}/p{params.get('message_ts')}"}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files") or []
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
        if method == "conversations.list":
            return self._conversations_list(params)
        if method == "apps.connections.open":
            if self.socket_url is None:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": self.socket_url}
        if method in ("views.open", "views.update", "views.publish"):
            view = params.get("view")
            view = json.loads(view) if isinstance(view, str) else (view or {})
            view_id = str(params.get("view_id") or f"V{next(self._ts):08d}")
            return {"ok": True, "view": {**view, "id": view_id, "hash": f"h{next(self._ts)}"}}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.group_members.get(str(params.get("usergroup")), [])}
        if method == "users.info":
            user = str(params.get("user"))
            return {"ok": True, "user": {"id": user, "profile": {"email": self.user_emails.get(user, "")}}}
        return {"ok": True}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """Pages as Slack does: `limit` must be under 1,000 (default 100), `cursor` continues."""
        limit = int(params.get("limit") or 100)
        if not 0 < limit < 1000:
            return {"ok": False, "error": "invalid_limit"}
        channels = [{"id": cid, "name": name.removeprefix("#")} for name, cid in CHANNEL_IDS.items()]
        channels += self.extra_channels
        start = int(params.get("cursor") or 0)
        following = start + limit if start + limit < len(channels) else None
        return {"ok": True, "channels": channels[start : start + limit],
                "response_metadata": {"next_cursor": str(following) if following else ""}}  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                if path.startswith("/response/"):
                    standin._record(Call("response_url", json.loads(body or b"{}") | {"url": path}))
                    self._reply(200, {"ok": True})
                    return
                if path.startswith("/upload/"):
                    standin._record(Call("upload", {"file": path.rsplit("/", 1)[1], "content": body.decode(errors="replace"),
                                                    "raw": body}))  # fmt: skip
                    self._reply(200, {"ok": True})
                    return
                method = path.removeprefix("/api/")
                params = _parse(body, self.headers.get("Content-Type", ""))
                params.update({k: v[0] for k, v in parse_qs(self.path.partition("?")[2]).items()})
                failure = standin._failure_for(method)
                if failure is not None:
                    standin._record(Call(method, params, status=failure.status))
                    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                    self._reply(failure.status, {"ok": False, "error": failure.error}, headers)
                    return
                standin._record(Call(method, params))
                self._reply(200, standin._answer(method, params))

        return Handler

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
