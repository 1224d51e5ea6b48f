"""A stand-in for Slack's Socket Mode on a loopback WebSocket (the `websockets` package), speaking
the protocol as Slack documents it: the Web API stand-in's `apps.connections.open` answers this
server's `ws://` URL; each new connection gets `hello`; envelopes (`slash_commands`, `interactive`,
`events_api`) carry an `envelope_id` and go to one open connection (round robin, as Slack gives
each to one); acks (`{"envelope_id": …, "payload": …}`) may come back on any connection; an
envelope not acked within `ack_timeout` is sent again (`retry_attempt` + 1) to another connection;
`disconnect` (reason `refresh_requested`) asks a connection to reconnect, and no new envelope goes
to it afterwards.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


@dataclass
class Link:
    """One client connection."""

    number: int
    ws: ServerConnection
    draining: bool = False  # told to reconnect: nothing new goes to it
    closed: bool = False
    received: list[str] = field(default_factory=list)  # envelope ids delivered here
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, text: str) -> bool:
        with self.lock:
            try:
                self.ws.send(text)
            except ConnectionClosed:
                self.closed = True
                return False
        return True


@dataclass
class Envelope:
    """An envelope and what became of it."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    deliveries: list[tuple[int, float]] = field(default_factory=list)  # (link number, when)
    acks: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (link number, the ack message)

    def message(self) -> str:
        return json.dumps({"envelope_id": self.envelope_id, "type": self.type, "payload": self.payload,
                           "accepts_response_payload": self.accepts_response_payload,
                           "retry_attempt": max(0, len(self.deliveries) - 1),
                           "retry_reason": "timeout" if len(self.deliveries) > 1 else ""})  # fmt: skip


class SocketModeStandIn:
    """Start with `start()`; `url` is what `apps.connections.open` answers."""

    def __init__(self, ack_timeout: float = 5.0) -> None:
        self.ack_timeout = ack_timeout
        self.links: list[Link] = []
        self.envelopes: dict[str, Envelope] = {}
        self.stray: list[str] = []  # messages from clients that ack nothing known
        self._numbers = itertools.count(1)
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: Server | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/"

    def start(self) -> SocketModeStandIn:
        self._server = serve(self._serve, "127.0.0.1", 0, compression=None, ping_interval=None)
        for target in (self._server.serve_forever, self._redeliver):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=10)

    # --- what tests do -----------------------------------------------------------------------

    def open_links(self) -> list[Link]:
        with self._lock:
            return [link for link in self.links if not link.closed and not link.draining]

    def wait_for_links(self, count: int, timeout: float = 30) -> list[Link]:
        self._wait(lambda: len(self.open_links()) >= count, timeout, f"{count} open connection(s)")
        return self.open_links()

    def send(self, type_: str, payload: dict[str, Any], accepts_response_payload: bool = True) -> str:
        """Queue an envelope for one open connection; returns its envelope_id."""
        envelope = Envelope(str(uuid.uuid4()), type_, payload, accepts_response_payload)
        with self._lock:
            self.envelopes[envelope.envelope_id] = envelope
        self._deliver(envelope)
        return envelope.envelope_id

    def send_raw(self, text: str) -> None:
        """Send `text` as it is (bad input) to the next open connection."""
        self._next_link().send(text)

    def disconnect(self, link: Link, reason: str = "refresh_requested") -> None:
        """Ask `link` to reconnect (Slack does this every few hours); nothing new goes to it."""
        with self._lock:
            link.draining = True
        link.send(json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "standin"}}))

    def wait_acked(self, ids: list[str], timeout: float = 30) -> None:
        self._wait(lambda: all(self.envelopes[i].acks for i in ids), timeout, f"acks of {len(ids)} envelopes")

    def ack_of(self, envelope_id: str) -> dict[str, Any]:
        self.wait_acked([envelope_id])
        return self.envelopes[envelope_id].acks[0][1]

    # --- serving -----------------------------------------------------------------------------

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise AssertionError(f"the Socket Mode stand-in never saw {what}")

    def _next_link(self) -> Link:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self._stop.is_set():
            links = self.open_links()
            if links:
                return links[next(self._turn) % len(links)]
            time.sleep(0.02)
        raise AssertionError("no open Socket Mode connection to send to")

    def _deliver(self, envelope: Envelope, avoid: int | None = None) -> None:
        while True:
            link = self._next_link()
            if avoid is not None and link.number == avoid and len(self.open_links()) > 1:
                continue
            with self._lock:
                envelope.deliveries.append((link.number, time.monotonic()))
                link.received.append(envelope.envelope_id)
            if link.send(envelope.message()):
                return

    def _redeliver(self) -> None:
        """Slack sends an envelope again when its ack does not come in time."""
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                late = [e for e in self.envelopes.values()
                        if not e.acks and e.deliveries and now - e.deliveries[-1][1] > self.ack_timeout]  # fmt: skip
            for envelope in late:
                try:
                    self._deliver(envelope, avoid=envelope.deliveries[-1][0])
                except AssertionError:  # nobody is connected (any more): Slack would keep it for later
                    continue

    def _serve(self, ws: ServerConnection) -> None:
        link = Link(next(self._numbers), ws)
        with self._lock:
            self.links.append(link)
        link.send(json.dumps({"type": "hello", "num_connections": len(self.open_links()),
                              "debug_info": {"host": "standin", "approximate_connection_time": 18060},
                              "connection_info": {"app_id": "A0ROLLBOT"}}))  # fmt: skip
        try:
            for text in ws:
                self._received(link, str(text))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                link.closed = True

    def _received(self, link: Link, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = {}
        envelope = self.envelopes.get(str(message.get("envelope_id"))) if isinstance(message, dict) else None
        with self._lock:
            if envelope is None:
                self.stray.append(text)
            else:
                envelope.acks.append((link.number, message))
