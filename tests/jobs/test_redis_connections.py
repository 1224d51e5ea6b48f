"""REDIS_SENTINELS / REDIS_SENTINEL_MASTER and rediss:// with CA_BUNDLE, on private redis-servers."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from redis.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.sentinel import SentinelConnectionPool, SentinelManagedConnection
from rq.scheduler import RQScheduler

from jobs import factory
from jobs.core.exceptions import SettingsError
from jobs.core.settings import Settings, get_settings
from tests.standins.redis_servers import MASTER_NAME, RedisProcesses, TLSFiles, sentinels_ready, wait_until
from tests.support.redis_server import redis_server_binary


def _tls_supported() -> bool:
    """A TLS build refuses a TLS port without a certificate; others refuse TLS itself."""
    probe = subprocess.run([redis_server_binary(), "--port", "0", "--tls-port", "1"],
                           capture_output=True, text=True, timeout=10, check=False, cwd="/tmp")  # fmt: skip
    return "tls-cert-file" in probe.stdout + probe.stderr


@pytest.fixture
def setenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Settings from this test's environment only (no stray .env), caches cleared around it."""
    monkeypatch.chdir(tmp_path)
    for name in ("REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_sentinels_without_a_master_name_is_a_one_line_error(setenv: pytest.MonkeyPatch) -> None:
    setenv.setenv("REDIS_SENTINELS", "127.0.0.1:26379")
    with pytest.raises(SettingsError, match=r"^setting REDIS_SENTINEL_MASTER is required when REDIS_SENTINELS is set$"):
        get_settings()


@pytest.mark.parametrize("bad", ["127.0.0.1", "host:port", "host:0", ":26379", " , "])
def test_malformed_sentinels_name_themselves(setenv: pytest.MonkeyPatch, bad: str) -> None:
    setenv.setenv("REDIS_SENTINELS", bad)
    setenv.setenv("REDIS_SENTINEL_MASTER", "m")
    with pytest.raises(SettingsError, match=r"^setting REDIS_SENTINELS is malformed: "):
        get_settings()


def test_sentinel_addresses() -> None:
    settings = Settings(redis_sentinels=" s1:26379, 10.0.0.2:26380,[::1]:26381", redis_sentinel_master="m")
    assert settings.sentinel_addresses() == [("s1", 26379), ("10.0.0.2", 26380), ("::1", 26381)]
    assert Settings().sentinel_addresses() == [] and Settings().redis_sentinel_master is None


def test_sentinel_client_finds_the_master_with_url_password_and_db(setenv: pytest.MonkeyPatch, tmp_path: Path) -> None:
    redis = RedisProcesses(tmp_path / "redis")
    try:
        master = redis.server(password="s3cret")
        sentinel = redis.sentinel(master, quorum=1)
        wait_until(sentinels_ready(redis, [sentinel], replicas=0), 20, "the sentinel to see the master")
        setenv.setenv("REDIS_URL", "redis://:s3cret@nowhere.invalid:1/3")
        setenv.setenv("REDIS_SENTINELS", f"127.0.0.1:{sentinel}")
        setenv.setenv("REDIS_SENTINEL_MASTER", MASTER_NAME)

        for fail_fast in (False, True):
            client = factory.redis_client(fail_fast)
            assert isinstance(client.connection_pool, SentinelConnectionPool)
            client.set("written-through-sentinel", str(fail_fast))
            client.close()
        with redis.client(master, db=3) as direct:
            assert direct.get("written-through-sentinel") == b"True"
        # RQ's scheduler rebuilds its connection from the worker's pool: it still asks the sentinels.
        scheduler = RQScheduler([], connection=factory.redis_client())
        assert issubclass(scheduler.connection.connection_pool.connection_class, SentinelManagedConnection)
        assert scheduler.connection.get("written-through-sentinel") == b"True"
        scheduler.connection.close()

        setenv.setenv("REDIS_SENTINEL_MASTER", "unknown")
        get_settings.cache_clear()
        with pytest.raises(RedisConnectionError, match="No master found for 'unknown'"):
            factory.redis_client(fail_fast=True).ping()
    finally:
        redis.stop_all()


class Interrupted(Exception):
    """Raised by a timer signal in the middle of a blocking read (as RQ's warm shutdown does)."""


def _interrupt(_signum: int, _frame: object) -> None:
    raise Interrupted


def test_an_interrupted_read_does_not_leave_its_reply_to_the_next_command(
    setenv: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    redis = RedisProcesses(tmp_path / "redis")
    previous = signal.signal(signal.SIGALRM, _interrupt)
    try:
        master = redis.server()
        sentinel = redis.sentinel(master, quorum=1)
        wait_until(sentinels_ready(redis, [sentinel], replicas=0), 20, "the sentinel to see the master")
        setenv.setenv("REDIS_SENTINELS", f"127.0.0.1:{sentinel}")
        setenv.setenv("REDIS_SENTINEL_MASTER", MASTER_NAME)
        client = factory.redis_client()
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted):
            client.blpop(["an-empty-list"], timeout=5)
        with redis.client(master) as direct:
            direct.rpush("an-empty-list", "late")  # the interrupted BLPOP takes it, on the server
        started = time.monotonic()
        assert client.get("nothing-here") is None and client.ping() is True
        assert time.monotonic() - started < 2
        client.close()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        redis.stop_all()


@pytest.mark.skipif(not _tls_supported(), reason="this redis-server was built without TLS")
def test_rediss_with_ca_bundle_plain_and_through_sentinel(setenv: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tls = TLSFiles(trustme.CA(), tmp_path / "tls")
    redis = RedisProcesses(tmp_path / "redis", tls=tls)
    try:
        master = redis.server(password="s3cret")
        sentinel = redis.sentinel(master, quorum=1)
        wait_until(sentinels_ready(redis, [sentinel], replicas=0), 20, "the sentinel to see the master over TLS")

        setenv.setenv("REDIS_URL", f"rediss://:s3cret@127.0.0.1:{master}/2")
        with pytest.raises(RedisConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            factory.redis_client(fail_fast=True).ping()  # the CA is not in the system's trust
        setenv.setenv("CA_BUNDLE", str(tls.ca_bundle))
        get_settings.cache_clear()
        plain = factory.redis_client()
        plain.set("over-tls", "plain")
        assert plain.get("over-tls") == b"plain"
        plain.close()

        setenv.setenv("REDIS_URL", "rediss://:s3cret@nowhere.invalid:1/2")
        setenv.setenv("REDIS_SENTINELS", f"127.0.0.1:{sentinel}")
        setenv.setenv("REDIS_SENTINEL_MASTER", MASTER_NAME)
        get_settings.cache_clear()
        through_sentinel = factory.redis_client()
        connection_class = through_sentinel.connection_pool.connection_class
        assert issubclass(connection_class, SentinelManagedConnection) and issubclass(connection_class, SSLConnection)
        assert through_sentinel.get("over-tls") == b"plain"
        through_sentinel.close()
    finally:
        redis.stop_all()
