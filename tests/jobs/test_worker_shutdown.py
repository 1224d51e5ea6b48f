"""A worker's shutdown is prompt: its command listener (RQ's pubsub thread) stops within a moment,
even when the listener has already seen its channel unsubscribed and waits for a subscription.
"""

from __future__ import annotations

import threading
import uuid
from typing import cast

from redis.client import PubSubWorkerThread

from jobs.context import Context
from jobs.factory import get_queue
from jobs.worker import RollbotWorker
from tests.conftest import wait_for


def test_the_command_listener_stops_at_once_after_its_channel_was_unsubscribed(ctx: Context) -> None:
    worker = RollbotWorker([get_queue("notify", ctx.redis)], name=f"{ctx.keys.namespace}-{uuid.uuid4().hex[:8]}",
                           connection=ctx.redis)  # fmt: skip
    worker.subscribe()
    pubsub, listener = worker.pubsub, cast(PubSubWorkerThread, worker.pubsub_thread)
    assert pubsub is not None and listener is not None
    try:
        wait_for(lambda: pubsub.subscribed, timeout=10, message="the subscription")
        # The race a shutdown can lose: the reply to its UNSUBSCRIBE reaches the listener before
        # the listener is told to stop; the listener then waits for a subscription that never comes.
        pubsub.unsubscribe()
        wait_for(lambda: not pubsub.subscribed, timeout=10, message="the unsubscribe reply")
        stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
        stopping.start()
        stopping.join(timeout=10)  # a hang (RQ's listener polls every 60 s), not a measurement
        assert not stopping.is_alive(), "the worker's command listener kept its shutdown waiting"
        assert not listener.is_alive()
    finally:
        listener.stop(timeout=90)
