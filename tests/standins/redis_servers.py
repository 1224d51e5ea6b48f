"""Private `redis-server` processes on loopback for Redis fault tests: masters, replicas, sentinels,
optionally TLS-only (cert and key from a trustme CA). Never the shared Redis on 6379.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trustme
from redis import Redis
from redis.exceptions import RedisError

from tests.conftest import free_port, wait_for
from tests.support.redis_server import redis_server_binary

MASTER_NAME = "m"


class TLSFiles:
    """A server certificate for 127.0.0.1 from `ca`, written next to the CA bundle clients trust."""

    def __init__(self, ca: trustme.CA, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_bundle, self.cert, self.key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
        ca.cert_pem.write_to_path(str(self.ca_bundle))
        cert.cert_chain_pems[0].write_to_path(str(self.cert))
        cert.private_key_pem.write_to_path(str(self.key))

    def config(self, port: int) -> list[str]:
        """Config lines for a TLS-only server (and TLS replication) on `port`, no client certs."""
        return [
            "port 0", f"tls-port {port}", f"tls-cert-file {self.cert}", f"tls-key-file {self.key}",
            f"tls-ca-cert-file {self.ca_bundle}", "tls-auth-clients no", "tls-replication yes",
        ]  # fmt: skip


class RedisProcesses:
    """Starts servers and sentinels in `folder`; `stop_all` kills every one of them (SIGKILL)."""

    def __init__(self, folder: Path, tls: TLSFiles | None = None) -> None:
        self.folder = folder
        self.tls = tls
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.passwords: dict[int, str] = {}

    def _start(self, name: str, port: int, lines: list[str], sentinel: bool = False) -> int:
        workdir = self.folder / name
        workdir.mkdir(parents=True, exist_ok=True)
        listen = self.tls.config(port) if self.tls else [f"port {port}"]
        base = ["bind 127.0.0.1", "protected-mode no", f'dir "{workdir}"', 'save ""', "appendonly no",
                "repl-diskless-sync-delay 0"]  # fmt: skip
        conf = workdir / "redis.conf"  # sentinels rewrite their config: it must be a writable file
        conf.write_text("\n".join([*base, *listen, *lines]) + "\n")
        args = [redis_server_binary(), str(conf), *(["--sentinel"] if sentinel else [])]
        log = (workdir / "log.txt").open("wb")
        self.procs[port] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for(lambda: self._answers(port), timeout=10, message=f"{name} on port {port} to answer")
        return port

    def client(self, port: int, **options: Any) -> Redis:
        """A direct client of the server on `port` (TLS when the servers are TLS-only)."""
        options.setdefault("password", self.passwords.get(port))
        if self.tls:
            options |= {"ssl": True, "ssl_ca_certs": str(self.tls.ca_bundle)}
        return Redis("127.0.0.1", port, socket_timeout=2, socket_connect_timeout=2, **options)

    def _answers(self, port: int) -> bool:
        proc = self.procs[port]
        if proc.poll() is not None:
            raise AssertionError(f"redis-server on {port} exited {proc.returncode}")
        try:
            with self.client(port) as client:
                return bool(client.ping())
        except RedisError:
            return False

    def in_sync(self, replica: int) -> bool:
        """True once the replica on `replica` has completed its sync with its master."""
        try:
            with self.client(replica) as client:
                return bool(client.info("replication").get("master_link_status") == "up")
        except RedisError:
            return False

    def server(self, replica_of: int | None = None, password: str | None = None) -> int:
        """A master (or a replica of the server on `replica_of`) on a free port, optionally with a
        password (replicas use it for their master too); returns the port.
        """
        port = free_port()
        lines = [f"replicaof 127.0.0.1 {replica_of}"] if replica_of else []
        if password:
            lines += [f"requirepass {password}", f"masterauth {password}"]
            self.passwords[port] = password
        return self._start(f"server-{port}", port, lines)

    def sentinel(self, master_port: int, quorum: int = 2) -> int:
        """A sentinel watching `master_port` as MASTER_NAME: down after 1 s, quick failovers."""
        port = free_port()
        password = self.passwords.get(master_port)
        lines = [
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}",
            *([f"sentinel auth-pass {MASTER_NAME} {password}"] if password else []),
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000",
            f"sentinel failover-timeout {MASTER_NAME} 3000",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
        ]
        return self._start(f"sentinel-{port}", port, lines, sentinel=True)

    def kill(self, port: int) -> None:
        """SIGKILL the server on `port` (a crash, no shutdown)."""
        proc = self.procs.pop(port)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Kill every process started here."""
        for port in list(self.procs):
            self.kill(port)


def sentinels_ready(processes: RedisProcesses, sentinels: list[int], replicas: int) -> Callable[[], bool]:
    """A condition: every sentinel sees the master up, `replicas` replicas up, and the other sentinels."""

    def ready() -> bool:
        for port in sentinels:
            try:
                with processes.client(port) as client:
                    master = client.sentinel_master(MASTER_NAME)
                    seen = [r for r in client.sentinel_slaves(MASTER_NAME) if not r["is_sdown"]]
            except RedisError:
                return False
            if master["is_sdown"] or len(seen) < replicas or master["num-other-sentinels"] < len(sentinels) - 1:
                return False
        return True

    return ready


def wait_until(condition: Callable[[], Any], timeout: float, message: str) -> Any:
    """`wait_for` with a coarser poll (sentinel queries are not free)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")
