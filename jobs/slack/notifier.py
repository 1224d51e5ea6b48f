"""Keeps each run's Slack message in step with its run record — best effort, never in the way.

Notifications are *state*, not events: every sync renders the record as it is now, posts the
message (first time) or updates it, adds a thread reply per failing step, and uploads the log
of a run that did not succeed. What was delivered is remembered in Redis, so a sync can be
repeated by anyone at any time (the run's own process while it runs, then an RQ job with
retries if Slack was unreachable, and after an outage longer than those retries the Slack
redelivery of `jobs.deliveries`) without posting anything twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from datetime import datetime
from types import TracebackType
from urllib.error import URLError

from redis.exceptions import LockError
from redis.lock import Lock
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.context import Context
from jobs.core.exceptions import RunbookError, UnknownTargetError
from jobs.core.redis_values import text
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.catalog import runbook_for
from jobs.runbook.model import Runbook
from jobs.runs import eta
from jobs.runs.notify_queue import enqueue_delivery
from jobs.runs.plan import manual_checklist_items
from jobs.slack import blocks, deliveries
from jobs.slack import channel as alert_channels
from jobs.slack.p90_watch import P90Watch

logger = logging.getLogger(__name__)

MIN_UPDATE_INTERVAL = 1.0  # at most one chat.update per second per message
LOCK_SECONDS = 60  # one sync at a time per message; a process that died mid-sync holds it this long
_SLACK_ERRORS = (SlackApiError, SlackClientError, URLError, OSError)
_NOT_SUCCEEDED = ("failed", "timed_out", "budget_exceeded", "cancelled", "interrupted")


def alert_channel(ctx: Context, runbook: Runbook) -> str:
    """`ALERT_CHANNEL` when set, else the runbook's `alert_channel`."""
    return alert_channels.alert_channel(ctx, runbook)


def next_level(runbook: Runbook, record: RunRecord) -> str | None:
    """The level after the run's level in its phase (Phase 3: level1 → level2 → level3)."""
    phase = runbook.phases.get(record.phase)
    if phase is None or record.level is None or record.kind != "rollback":
        return None
    names = list(phase.levels)
    index = names.index(record.level) if record.level in names else len(names)
    return names[index + 1] if index + 1 < len(names) else None


def checklist_state(ctx: Context, runbook: Runbook, record: RunRecord) -> blocks.ChecklistState | None:
    """The manual checklist of a validation run with who verified which item."""
    if record.kind != "validation":
        return None
    raw = ctx.redis.hgetall(ctx.keys.run_verified(record.run_id))
    verified = {}
    for index, value in raw.items():
        entry = json.loads(text(value))
        verified[int(text(index))] = (entry["user"], datetime.fromisoformat(entry["at"]))
    return blocks.ChecklistState(manual_checklist_items(runbook), verified)


class RunMessage:
    """One run's message in the alert channel."""

    def __init__(self, ctx: Context, client: WebClient, run_id: str) -> None:
        self.ctx = ctx
        self.client = client
        self.run_id = run_id
        self.key = ctx.keys.run_slack(run_id)
        # One sync at a time per message, across processes (the run's own, the delivery job's).
        self._lock = Lock(ctx.redis, f"{self.key}:lock", timeout=LOCK_SECONDS, blocking_timeout=5, thread_local=False)

    def sync(self) -> bool:
        """Bring Slack in line with the record. True when everything is delivered, False when Slack
        could not be reached or refused, or another process is syncing it (logged with the run id).
        """
        if not self._lock.acquire():
            return False
        try:
            return self._sync()
        except _SLACK_ERRORS as error:
            logger.warning("run %s: Slack update not delivered yet: %s", self.run_id, error)
            self.mark_late()
            deliveries.note_failure(self.ctx)
            return False
        finally:
            self.abandon()

    def mark_late(self) -> None:
        """Remember since when Slack is behind; the next successful sync says so in the thread."""
        self.ctx.redis.hsetnx(self.key, "undelivered_since", self.ctx.clock().isoformat())

    def abandon(self) -> None:
        """Release this sync's claim on the message."""
        with contextlib.suppress(LockError):
            self._lock.release()

    def _sync(self) -> bool:
        record = self.ctx.runs.get(self.run_id)
        try:
            runbook = runbook_for(self.ctx, record.service)
        except (RunbookError, UnknownTargetError) as error:
            logger.error("run %s: runbook unreadable, Slack not updated: %s", self.run_id, error.user_message)
            return False
        state = {text(k): text(v) for k, v in self.ctx.redis.hgetall(self.key).items()}
        now = self.ctx.clock()
        progress = None
        if record.status == "running":
            progress = eta.progress_note(record, eta.for_record(self.ctx.redis, self.ctx.keys, record), now)
        message_text, message_blocks, metadata = blocks.run_message(
            record, now, next_level(runbook, record), checklist_state(self.ctx, runbook, record), progress
        )
        channel, ts = state.get("channel") or alert_channel(self.ctx, runbook), state.get("ts")
        if ts:
            try:
                self.client.chat_update(
                    channel=channel, ts=ts, text=message_text, blocks=message_blocks, metadata=metadata
                )
            except SlackApiError as error:
                if error.response.get("error") != "message_not_found":
                    raise
                ts = None  # someone deleted it: post it again
                self.ctx.redis.hdel(self.key, "ts")
        if not ts:
            response = self.client.chat_postMessage(
                channel=channel, text=message_text, blocks=message_blocks, metadata=metadata, unfurl_links=False
            )
            channel, ts = self._claim_post(str(response["channel"]), str(response["ts"]))
            alert_channels.remember(self.ctx, runbook, channel)
        self._reply_failures(record, channel, ts, state)
        if not record.is_active and record.status in _NOT_SUCCEEDED and not state.get("log_uploaded"):
            self._upload_log(record, channel, ts)
        if since := state.get("undelivered_since"):
            note = deliveries.late_note(datetime.fromisoformat(since), self.ctx.clock(), "the updates of this message")
            self.client.chat_postMessage(channel=channel, thread_ts=ts, text=note)
            self.ctx.redis.hdel(self.key, "undelivered_since")
        return True

    def _claim_post(self, channel: str, ts: str) -> tuple[str, str]:
        """Keep the message just posted as the run's message, unless another sync (the abandoned one
        of a finished process, say) posted one first: then ours is deleted and theirs is used.
        """
        if self.ctx.redis.hsetnx(self.key, "ts", ts):
            self.ctx.redis.hset(self.key, "channel", channel)
            self._remember_permalink(channel, ts)
            return channel, ts
        with contextlib.suppress(*_SLACK_ERRORS):
            self.client.chat_delete(channel=channel, ts=ts)
        winner = text(self.ctx.redis.hget(self.key, "ts"))
        return text(self.ctx.redis.hget(self.key, "channel") or channel), winner

    def _remember_permalink(self, channel: str, ts: str) -> None:
        """The message's permalink, for PagerDuty's links (pages never wait on Slack for it)."""
        try:
            permalink = self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
        except _SLACK_ERRORS as error:
            logger.info("run %s: no permalink: %s", self.run_id, error)
            return
        self.ctx.redis.hset(self.key, "permalink", str(permalink))

    def _reply_failures(self, record: RunRecord, channel: str, ts: str, state: dict[str, str]) -> None:
        replied = set(filter(None, state.get("replied", "").split(",")))
        for step in record.steps:
            if step.status in _NOT_SUCCEEDED and str(step.index) not in replied:
                self._post_failure(step, channel, ts)
                replied.add(str(step.index))
                self.ctx.redis.hset(self.key, "replied", ",".join(sorted(replied)))

    def _post_failure(self, step: StepRecord, channel: str, ts: str) -> None:
        self.client.chat_postMessage(channel=channel, thread_ts=ts, text=blocks.failure_reply(step))

    def _upload_log(self, record: RunRecord, channel: str, ts: str) -> None:
        lines = [text(line) for line in self.ctx.redis.lrange(self.ctx.keys.run_log(record.run_id), 0, -1)]
        if not lines:
            return
        self.client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            content="\n".join(lines) + "\n",
            filename=f"{record.run_id}.log",
            title=f"Full log of {record.kind} {blocks.target(record)} ({record.run_id})",
        )
        self.ctx.redis.hset(self.key, "log_uploaded", "1")


class RunNotifier:
    """Syncs a run's message from a background thread while the run executes, at most once per
    second; the steps never wait for Slack. The thread starts with the first change (a run's
    first step never waits for it). On exit it waits up to `FLUSH_SECONDS` for the final
    update (`ROLLBOT_SLACK_FLUSH_SECONDS`), then hands anything undelivered to the `notify` queue
    (retried with backoff).
    """

    def __init__(self, message: RunMessage, min_interval: float = MIN_UPDATE_INTERVAL) -> None:
        self.message = message
        self._min_interval = min_interval
        self._dirty = threading.Event()
        self._done = threading.Event()
        self._finishing = False
        self._abandoned = False
        self._delivered = False
        self._thread = threading.Thread(target=self._loop, name=f"notify-{message.run_id}", daemon=True)
        self._starting = threading.Lock()
        self._watch = P90Watch(message.ctx, message.run_id, self.changed)  # wakes it past a step's usual p90

    def __enter__(self) -> RunNotifier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish()

    def changed(self, step: StepRecord | None = None) -> None:
        """The record changed: sync soon (coalesced)."""
        if step is not None:
            self._watch.changed(step)
        self._dirty.set()
        self._start()

    def finish(self) -> bool:
        """Deliver the final state; True when it reached Slack, else it was handed to the workers."""
        self._finishing = True
        self._watch.close()
        self._dirty.set()
        self._start()
        self._done.wait(self.message.ctx.settings.rollbot_slack_flush_seconds)
        if not self._delivered:
            self._abandoned = True
            self.message.mark_late()
            self.message.abandon()  # a post still in flight is reconciled by `_claim_post`
            enqueue_delivery(self.message.ctx, self.message.run_id)
        return self._delivered

    def _start(self) -> None:
        with self._starting:
            if self._thread.ident is None:
                self._thread.start()

    def _loop(self) -> None:
        last = float("-inf")
        backoff = 1.0
        while not self._abandoned:
            self._dirty.wait()
            time.sleep(max(0.0, last + self._min_interval - time.monotonic()))
            if self._abandoned:
                return
            self._dirty.clear()
            finishing = self._finishing
            delivered = self.message.sync()
            last = time.monotonic()
            if delivered:
                backoff = 1.0
                if finishing and not self._dirty.is_set():
                    self._delivered = True
                    self._done.set()
                    return
            else:
                time.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                self._dirty.set()


class FirstNewsNotifier:
    """A `RunNotifier` for run `run_id`, made with the run's first news: the run's first step is
    under way by then, so making the message and its notifier never delays that step. Leaving it
    finishes the notifier as leaving a `RunNotifier` does.
    """

    def __init__(self, ctx: Context, run_id: str) -> None:
        self.ctx, self.run_id = ctx, run_id
        self._notifier: RunNotifier | None = None
        self._making = threading.Lock()  # (news comes from the run and from its state's writer)

    def __enter__(self) -> FirstNewsNotifier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._making:
            notifier = self._notifier
        if notifier is not None:
            notifier.finish()

    def changed(self, step: StepRecord | None = None) -> None:
        """`RunNotifier.changed`, the notifier made first if need be (from any thread)."""
        with self._making:
            if self._notifier is None:
                self._notifier = RunNotifier(RunMessage(self.ctx, self.ctx.slack, self.run_id))
            notifier = self._notifier
        notifier.changed(step)
