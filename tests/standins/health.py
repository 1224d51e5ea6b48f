"""A golden-path health endpoint whose answer the test controls (plain HTTP on loopback)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standins.server import LoopbackServer

HEALTHY = 0.99


class HealthEndpoint:
    """`GET /health/golden-path` answers `{"success_rate": …}` (or `status` with no JSON when down);
    `POST /deploy/good` is the "redeploy" a rollback step calls: health turns good again.
    """

    def __init__(self) -> None:
        self.payload: dict[str, Any] = {"success_rate": HEALTHY}
        self.status = 200
        self.hits = 0
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._handler())

    @property
    def url(self) -> str:
        return f"{self._server.base}/health/golden-path"

    @property
    def deploy_url(self) -> str:
        return f"{self._server.base}/deploy/good"

    def start(self) -> HealthEndpoint:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def set(self, success_rate: float, status: int = 200) -> None:
        """Answer `success_rate` from now on (with `status`; anything but 2xx is an error)."""
        with self._lock:
            self.payload, self.status = {"success_rate": success_rate}, status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with endpoint._lock:
                    endpoint.hits += 1
                    status, payload = endpoint.status, dict(endpoint.payload)
                self._reply(status, json.dumps(payload if status < 300 else {"error": "down"}).encode())

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint.set(HEALTHY)
                self._reply(200, b'{"deployed": "good"}')

        return Handler
