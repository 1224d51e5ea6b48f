"""The loopback HTTP(S) server the stand-ins run on, in a background thread, and the start/stop/url
of the HTTPS ones (their certificate from a `trustme` CA the tests trust through `CA_BUNDLE`)."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import trustme


class LoopbackServer:
    """A threading HTTP server on 127.0.0.1 and an ephemeral port; HTTPS when given a TLS context."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class HttpsStandIn:
    """What every HTTPS stand-in shares: a certificate for 127.0.0.1 from `ca`, the server, its
    base `url`, `start` and `stop`. A subclass gives the request handler (`_handler`)."""

    ca: trustme.CA
    _server: LoopbackServer

    def _serve_tls(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        self._server = LoopbackServer(self._handler(), tls=context)

    def _answer(self, method: str, path: str, auth: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer to one request (JSON in, JSON out: REST stand-ins say only this)."""
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _any(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = standin._answer(self.command, self.path, self.headers.get("Authorization", ""),
                                                 json.loads(raw) if raw else {})  # fmt: skip
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _any

        return Handler

    @property
    def url(self) -> str:
        """The stand-in's https base URL."""
        return self._server.base

    def start(self) -> Self:
        """Serve in a background thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.stop()
