"""The one place that builds connections and clients, once per process; jobs receive them from here."""

from __future__ import annotations

import copy
import ssl
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from redis import Redis
from redis.backoff import AbstractBackoff, ExponentialBackoff, NoBackoff
from redis.connection import SSLConnection, parse_url
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection
from redis.utils import get_lib_version
from rq import Queue
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from jobs.context import Clients, Context
from jobs.core.exceptions import SettingsError
from jobs.core.keys import QUEUE_NAMES, Keys
from jobs.core.redaction import Redactor
from jobs.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from pagerduty import EventsApiV2Client, RestApiV2Client


class _SentinelConnection(SentinelManagedConnection):
    """redis-py's Sentinel connection, closed when a read is interrupted (as plain connections are).

    redis-py's own keeps such a connection (`disconnect_on_error=False`): when a warm shutdown
    interrupts an idle worker's BLPOP, its pending reply is read as the reply to the next command on
    that connection (RQ's death registration then waits minutes, for the socket timeout).
    """

    def read_response(
        self, disable_decoding: bool = False, *, disconnect_on_error: bool | None = True, **kwargs: Any
    ) -> Any:
        """The reply; on any error the connection is closed before the error propagates."""
        return super().read_response(disable_decoding, disconnect_on_error=disconnect_on_error, **kwargs)


class _SentinelSSLConnection(_SentinelConnection, SSLConnection):
    """`_SentinelConnection` over TLS."""


T = TypeVar("T")


class RedisOutage:
    """Whether the Redis of one client is known to be away (`known`): from the moment a command
    gave up after its retries until a command succeeds. Shared by every connection of the client.
    """

    def __init__(self) -> None:
        self.known = False


class OutageAwareRetry(Retry):
    """redis-py's retry with backoff, as long as Redis is not known to be away. Once a command has
    waited out every retry and failed, the client's later commands try once each (a fresh connection
    each time, so Redis coming back is seen at once), until one succeeds: a process that goes on
    without Redis (a run, from its journal) does not wait out the retries at every touch.
    """

    def __init__(self, backoff: AbstractBackoff, retries: int) -> None:
        super().__init__(backoff, retries)
        self.outage = RedisOutage()

    def __deepcopy__(self, memo: dict[int, Any]) -> OutageAwareRetry:
        """redis-py gives every connection its own copy: the copies share the outage."""
        clone = copy.copy(self)
        clone._backoff = copy.deepcopy(self._backoff, memo)
        clone._supported_errors = tuple(self._supported_errors)
        return clone

    def call_with_retry(self, do: Callable[[], T], fail: Callable[..., Any], *args: Any, **kwargs: Any) -> T:
        """`do`, retried with backoff (once only while Redis is known to be away)."""
        once = Retry(NoBackoff(), 0, self._supported_errors)
        call = once.call_with_retry if self.outage.known else super().call_with_retry
        try:
            result = call(do, fail, *args, **kwargs)
        except self._supported_errors:
            self.outage.known = True
            raise
        self.outage.known = False
        return result


# What redis-py tells Redis about itself (CLIENT SETINFO), resolved once: by default every new
# connection looks its own version up in the installed packages' metadata, milliseconds that a
# work horse (a fresh connection) would spend before its first command.
_DRIVER_INFO = DriverInfo(lib_version=get_lib_version())  # type: ignore[no-untyped-call, unused-ignore]


def redis_client(fail_fast: bool = False, settings: Settings | None = None) -> Redis:
    """A Redis client for `REDIS_URL`, or for the master the `REDIS_SENTINELS` name when set (found
    again after a failover). Workers ride out blips and failovers (retries with backoff); the web
    process fails fast (`fail_fast`) so a Slack request is always answered within 3 seconds. Once
    a worker's client has waited out its retries in vain, it tries each command once until Redis
    answers again (`OutageAwareRetry`).
    `rediss://` connections trust `CA_BUNDLE` when it is set. `settings`: the process's by default.
    """
    settings = settings or get_settings()
    if fail_fast:
        retry, connect_timeout, timeout = Retry(NoBackoff(), retries=0), 0.5, 1.0
    else:
        retry, connect_timeout, timeout = OutageAwareRetry(ExponentialBackoff(cap=2.0, base=0.1), retries=5), 5.0, 10.0
    options: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": timeout,
        "health_check_interval": 30,
        "retry": retry,
        "retry_on_error": [ConnectionError, TimeoutError],
        "driver_info": _DRIVER_INFO,
    }
    tls = _tls_options(settings)
    sentinels = settings.sentinel_addresses()
    if not sentinels:
        return Redis.from_url(settings.redis_url, **options, **tls)
    tls_scheme = settings.redis_url.startswith("rediss://")
    if tls_scheme:
        tls["ssl"] = True  # from_url picks TLS by the scheme; sentinel connections must be told
    # The sentinels are only asked where the master is: one try each, the master's retry asks again.
    master = settings.redis_sentinel_master
    if master is None:
        raise SettingsError("setting REDIS_SENTINEL_MASTER is required when REDIS_SENTINELS is set")
    sentinel = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
        sentinels,
        sentinel_kwargs={
            "socket_connect_timeout": connect_timeout,
            "socket_timeout": timeout,
            "retry": Retry(NoBackoff(), retries=0),
            **tls,
        },
    )
    url = parse_url(settings.redis_url)  # type: ignore[no-untyped-call, unused-ignore]
    auth = {name: url[name] for name in ("username", "password", "db") if name in url}
    connection_class = _SentinelSSLConnection if tls_scheme else _SentinelConnection
    client: Redis = sentinel.master_for(  # type: ignore[no-untyped-call, unused-ignore]
        master, connection_class=connection_class, **options, **auth, **tls
    )
    return client


def _tls_options(settings: Settings) -> dict[str, Any]:
    """TLS options for a `rediss://` `REDIS_URL` (`CA_BUNDLE` as the trusted CA, the URL's `ssl_*`
    parameters); none otherwise. With sentinels, the sentinels are reached over TLS as well.
    """
    if not settings.redis_url.startswith("rediss://"):
        return {}
    url = parse_url(settings.redis_url)  # type: ignore[no-untyped-call, unused-ignore]
    options: dict[str, Any] = {}
    if settings.ca_bundle is not None:
        options["ssl_ca_certs"] = str(settings.ca_bundle)
    options.update({name: value for name, value in url.items() if name.startswith("ssl_")})
    return options


@lru_cache
def get_redis() -> Redis:
    """The process's Redis client (redis-py pools are fork-safe: a work horse gets fresh sockets)."""
    return redis_client()


@lru_cache
def get_keys() -> Keys:
    """Key names for this process's namespace."""
    return Keys(get_settings().rollbot_namespace)


def get_queue(name: str, redis: Redis | None = None) -> Queue:
    """One of rollbot's queues (`rollback`, `notify`, `validation`, `monitor`)."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(get_keys().queue(name), connection=redis or get_redis())


def get_queues(redis: Redis | None = None) -> list[Queue]:
    """All queues, in the order a worker takes them (rollback first)."""
    return [get_queue(name, redis) for name in QUEUE_NAMES]


@lru_cache
def get_context() -> Context:
    """The process's `Context`: one Redis client, settings, and a redactor for its secrets."""
    settings = get_settings()
    return Context(get_redis(), get_keys(), settings, Redactor(settings.secret_values()), clients=CLIENTS)


@lru_cache
def get_web_context() -> Context:
    """The web process's `Context`, on a fail-fast Redis client."""
    settings = get_settings()
    return Context(redis_client(fail_fast=True), get_keys(), settings, Redactor(settings.secret_values()),
                   clients=CLIENTS)  # fmt: skip


SLACK_TIMEOUT_SECONDS = 10


def ssl_context(settings: Settings | None = None) -> ssl.SSLContext:
    """TLS trust for outbound HTTPS: `CA_BUNDLE` when set, else the system's. Loading a trust store
    takes milliseconds: one context per bundle (and version of its file) is shared by every client
    of the process and of the work horses it forks (a context holds no connection).
    """
    bundle = (settings or get_settings()).ca_bundle
    if bundle is None:
        return _ssl_context(None, 0, 0)
    try:
        stat = bundle.stat()
    except OSError:
        return ssl.create_default_context(cafile=str(bundle))  # raises as before
    return _ssl_context(str(bundle), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _ssl_context(cafile: str | None, _mtime_ns: int, _size: int) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def slack_client(token: str | None, settings: Settings | None = None) -> WebClient:
    """A WebClient on `SLACK_API_URL` that retries connection errors, 429s (after Retry-After)
    and server errors, as slack_sdk's handlers do.
    """
    settings = settings or get_settings()
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT_SECONDS,
        ssl=ssl_context(settings),
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


@lru_cache
def get_slack_client() -> WebClient:
    """The process's Slack client (the bot token from settings)."""
    token = get_settings().slack_bot_token
    return slack_client(token.get_secret_value() if token else None)


PAGERDUTY_TIMEOUT_SECONDS = 10
PAGERDUTY_FIRST_RETRY_SECONDS = 0.5  # the client's own backoff starts here and doubles


def pagerduty_events(settings: Settings | None = None) -> EventsApiV2Client | None:
    """An Events API v2 client (`PAGERDUTY_EVENTS_URL`, TLS trust from `CA_BUNDLE`), or None when no
    `PAGERDUTY_ROUTING_KEY` is set. Built per call: it is cheap, and safe across forks.
    """
    settings = settings or get_settings()
    if settings.pagerduty_routing_key is None:
        return None
    from pagerduty import EventsApiV2Client  # noqa: PLC0415 - loaded only by processes that use it

    client = EventsApiV2Client(
        settings.pagerduty_routing_key.get_secret_value(), base_url=settings.pagerduty_events_url,
        verify=ssl_context(settings), timeout=PAGERDUTY_TIMEOUT_SECONDS,
    )  # fmt: skip
    client.sleep_timer = PAGERDUTY_FIRST_RETRY_SECONDS
    return client


def pagerduty_rest(from_email: str | None, settings: Settings | None = None) -> RestApiV2Client | None:
    """A REST API v2 client acting as `from_email`, or None without `PAGERDUTY_API_TOKEN`."""
    settings = settings or get_settings()
    if settings.pagerduty_api_token is None:
        return None
    from pagerduty import RestApiV2Client  # noqa: PLC0415 - loaded only by processes that use it

    client = RestApiV2Client(
        settings.pagerduty_api_token.get_secret_value(), default_from=from_email,
        base_url=settings.pagerduty_api_url, verify=ssl_context(), timeout=PAGERDUTY_TIMEOUT_SECONDS,
    )  # fmt: skip
    client.sleep_timer = PAGERDUTY_FIRST_RETRY_SECONDS
    return client


CLIENTS = Clients(
    slack=get_slack_client,
    pagerduty_events=pagerduty_events,
    pagerduty_rest=pagerduty_rest,
    redis_probe=lambda: redis_client(fail_fast=True),
)


def build_context(settings: Settings) -> Context:
    """A `Context` for `settings`, built afresh with clients of its own (nothing cached): what a
    test builds for its own settings instead of clearing the process's caches.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    slack = lru_cache(maxsize=1)(lambda: slack_client(token, settings))
    clients = Clients(
        slack=slack,
        pagerduty_events=lambda: pagerduty_events(settings),
        pagerduty_rest=lambda from_email: pagerduty_rest(from_email, settings),
        redis_probe=lambda: redis_client(fail_fast=True, settings=settings),
    )
    redactor = Redactor(settings.secret_values())
    return Context(
        redis_client(settings=settings), Keys(settings.rollbot_namespace), settings, redactor, clients=clients
    )
