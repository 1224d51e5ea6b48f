"""Bad input over real HTTP to `rollbot web`: garbage never gets a 500, gunicorn's own log is redacted."""

from __future__ import annotations

import hashlib
import hmac
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PD_WEBHOOK_SECRETS, start_web, stop, wait_for, write_runbook
from tests.standins.signed import SIGNING_SECRET

NOT_UTF8 = b"\xff\xfe\xfa garbage \xc3\x28 payload=\x80"
SECRET_IN_URI = "xoxb-1234-5678-secretinuri"


def web_log(proc: subprocess.Popen[str]) -> str:
    """What `rollbot web` wrote to its stderr so far (start_web gives it a file, read through /proc)."""
    return Path(f"/proc/{proc.pid}/fd/2").read_text(errors="replace")


def slack_signed(body: bytes, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's signature headers over raw bytes (slack_sdk's helper only signs text)."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def pagerduty_signed(body: bytes) -> dict[str, str]:
    return {"X-PagerDuty-Signature": "v1=" + hmac.new(PD_WEBHOOK_SECRETS[0].encode(), body, hashlib.sha256).hexdigest()}


def raw_request(base: str, data: bytes) -> bytes:
    """Send `data` as is over one connection; the server's whole answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def served(env: dict[str, str], repo: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    write_runbook(Path(env["RUNBOOK"]), repo)
    proc, base = start_web(env)
    yield proc, base
    stop(proc)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "headers", "statuses"),
    [
        (NOT_UTF8, FORM, {401}),  # unsigned and not UTF-8
        (NOT_UTF8, {}, {401}),  # no content type either
        (NOT_UTF8, lambda: {**FORM, **slack_signed(NOT_UTF8)}, {400}),  # signed, yet not text
        (NOT_UTF8, lambda: {**JSON, **slack_signed(NOT_UTF8)}, {400}),
        (b"payload=%7Bnot%20json", lambda: {**FORM, **slack_signed(b"payload=%7Bnot%20json")}, {400}),
        (b"{not json", lambda: {**JSON, **slack_signed(b"{not json")}, {400}),
        (b"command=/rollback&text=phase2", FORM, {401}),  # unsigned
        (b'{"authorizations": "x"}', JSON, {401}),  # unsigned, and a shape Bolt's parsing chokes on
        (b'{"authorizations": [5]}', lambda: {**JSON, **slack_signed(b'{"authorizations": [5]}')}, {400}),
        (b"[1, 2]", lambda: {**JSON, **slack_signed(b"[1, 2]")}, {400}),
        (b"", {}, {401}),
    ],
    ids=[
        "unsigned-binary",
        "no-type-binary",
        "signed-binary-form",
        "signed-binary-json",
        "signed-bad-payload",
        "signed-bad-json",
        "unsigned-command",
        "unsigned-odd-shape",
        "signed-odd-shape",
        "signed-list",
        "empty",
    ],
)
def test_garbage_to_slack_events_gets_4xx_never_500(
    served: tuple[subprocess.Popen[str], str],
    body: bytes,
    headers: dict[str, str] | Callable[[], dict[str, str]],
    statuses: set[int],
) -> None:
    proc, base = served
    headers = headers() if callable(headers) else headers  # signed now: a signature is only good for 5 minutes
    response = httpx.post(f"{base}/slack/events", content=body, headers=headers, timeout=10)
    assert response.status_code in statuses, (response.status_code, response.text, web_log(proc))
    assert "Traceback" not in response.text
    log = web_log(proc)
    assert "Traceback" not in log and "Error handling request" not in log, log


def test_garbage_to_the_pagerduty_webhook_gets_4xx(served: tuple[subprocess.Popen[str], str]) -> None:
    proc, base = served
    cases = [
        (NOT_UTF8, {}, 401),
        (NOT_UTF8, pagerduty_signed(NOT_UTF8), 400),
        (b"\x00\x01[[[", pagerduty_signed(b"\x00\x01[[["), 400),
        (b'{"event": []}', pagerduty_signed(b'{"event": []}'), 400),
        (b'"just a string"', pagerduty_signed(b'"just a string"'), 400),
    ]
    for body, headers, status in cases:
        response = httpx.post(f"{base}/pagerduty/webhook", content=body, headers=headers, timeout=10)
        assert response.status_code == status, (body, response.status_code, response.text)
    log = web_log(proc)
    assert "Traceback" not in log and "Error handling request" not in log, log


def test_gunicorns_own_log_lines_are_redacted(served: tuple[subprocess.Popen[str], str]) -> None:
    proc, base = served
    password = "hunter2-url-password"
    request_lines = [  # each invalid, each logged by gunicorn with the secret in it
        f"GET /slack/events?token={SECRET_IN_URI}\x01 HTTP/1.1\r\n\r\n",  # control character in the URI
        f"{SECRET_IN_URI} / HTTP/1.1\r\n\r\n",  # not a method
        f"GET https://ops:{password}@example.com/\x01 HTTP/1.1\r\n\r\n",  # credentials in a URL
    ]
    for line in request_lines:
        answer = raw_request(base, line.encode())
        assert answer.startswith(b"HTTP/1.1 400"), answer

    log = wait_for(lambda: (text := web_log(proc)).count("Invalid request from") >= len(request_lines) and text,
                   timeout=10, message="gunicorn to log the invalid requests")  # fmt: skip
    invalid = [line for line in log.splitlines() if "Invalid request from" in line]
    assert len(invalid) == len(request_lines) and all("***" in line for line in invalid), log
    assert SECRET_IN_URI not in log and password not in log, log
    assert "https://***@example.com/" in log
