"""A real SMTP server on a loopback port (aiosmtpd), offering STARTTLS with a trustme certificate
and requiring it before mail, with a login. It records every message it takes, refuses the
addresses it is told to, and can be stopped and started again (SMTP down).
"""

from __future__ import annotations

import email
import ssl
import threading
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port

USERNAME, PASSWORD = "rollbot", "smtp-pass-0000"


@dataclass
class Received:
    """One message as the server took it."""

    sender: str
    recipients: list[str]
    message: Message


@dataclass
class SmtpStandIn:
    ca: trustme.CA
    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.port = free_port()
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1").configure_cert(self._tls)
        self._controller: Controller | None = None
        self.tls_seen = False

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpStandIn:
        self._controller = Controller(
            self._Handler(self), hostname="127.0.0.1", port=self.port, tls_context=self._tls, require_starttls=True,
            authenticator=self._authenticate, auth_require_tls=True, server_hostname="127.0.0.1",
        )  # fmt: skip
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.refuse.clear()

    def messages_to(self, address: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if address in r.recipients]

    @staticmethod
    def _authenticate(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == USERNAME.encode() and data.password == PASSWORD.encode()
        return AuthResult(success=ok)

    class _Handler:
        def __init__(self, standin: SmtpStandIn) -> None:
            self.standin = standin

        async def handle_RCPT(
            self, _server: Any, session: Any, envelope: Any, address: str, _options: list[str]
        ) -> str:
            if address in self.standin.refuse:
                return "550 5.1.1 mailbox unavailable"
            self.standin.tls_seen = self.standin.tls_seen or session.ssl is not None
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content)
            with self.standin._lock:
                self.standin.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            return "250 Message accepted"
