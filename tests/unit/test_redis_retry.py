"""The worker's Redis retry: backoff while Redis may come back, one try each once it is known away."""

from __future__ import annotations

import contextlib
import copy

import pytest
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from jobs.factory import OutageAwareRetry


class Commands:
    """A command that fails (connection refused) until told otherwise; counts its attempts."""

    def __init__(self) -> None:
        self.attempts = 0
        self.down = True

    def __call__(self) -> str:
        self.attempts += 1
        if self.down:
            raise RedisConnectionError("Connection refused")
        return "OK"

    def run(self, retry: OutageAwareRetry) -> int:
        """Attempts one call made (it raises while Redis is down)."""
        before = self.attempts
        with contextlib.suppress(RedisConnectionError):
            retry.call_with_retry(self, lambda _error: None)
        return self.attempts - before


def test_retries_until_a_call_gives_up_then_one_try_each_until_one_succeeds() -> None:
    retry, command = OutageAwareRetry(NoBackoff(), retries=3), Commands()
    assert command.run(retry) == 4  # the first call waits out every retry
    assert retry.outage.known
    assert command.run(retry) == 1 and command.run(retry) == 1  # then Redis is known to be away
    command.down = False
    assert command.run(retry) == 1 and not retry.outage.known  # one try sees it back at once
    command.down = True
    assert command.run(retry) == 4  # patience again for the next outage


def test_every_connection_s_copy_shares_the_outage() -> None:
    retry, command = OutageAwareRetry(NoBackoff(), retries=2), Commands()
    connection_copy = copy.deepcopy(retry)  # what redis-py gives each connection
    assert connection_copy == retry and connection_copy.outage is retry.outage
    assert command.run(connection_copy) == 3
    assert command.run(retry) == 1


def test_an_error_redis_answered_with_is_not_an_outage() -> None:
    retry = OutageAwareRetry(NoBackoff(), retries=2)

    def refused() -> None:
        raise ResponseError("WRONGTYPE")

    with pytest.raises(ResponseError):
        retry.call_with_retry(refused, lambda _error: None)
    assert not retry.outage.known
