"""The local journal: what a run wrote, kept on the host's disk so Redis going away loses nothing.

Every run appends its changes (record snapshots, log lines, audit entries, checkpoints) to
`<ROLLBOT_STATE_DIR>/journal/<namespace>/<run id>.jsonl` as it goes, and writes them to Redis as
well while Redis answers. When Redis stops answering the run goes on from its journal; when Redis
answers again (later in the run, or in the next rollbot process on this host: any command, a
worker or web starting, `rollbot sync`) the journal is written back, each entry once.

The file is locked (`flock`) by the run writing it, so nobody replays a run still going; the
write-back is one Redis transaction that also records how far the journal was applied, so two
processes replaying at the same time apply it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from redis import Redis, WatchError
from redis.client import Pipeline
from redis.exceptions import RedisError

from jobs.core.keys import Keys
from jobs.core.redis_values import optional_text
from jobs.records.checkpoints import HISTORY_LENGTH, Checkpoint
from jobs.records.runs import RunRecord, RunStore, StepRecord, parse_record, record_fields

logger = logging.getLogger(__name__)

RUN_LOG_MAX_LINES = 5000
APPLIED_TTL_SECONDS = 90 * 86400


def journal_dir(state_dir: Path, namespace: str) -> Path:
    """Where the journals of `namespace` live on this host."""
    return state_dir / "journal" / namespace


@dataclass
class Entry:
    """One journal line: `op` is `record`, `log`, `audit`, `checkpoint` or `synced`."""

    op: str
    data: dict[str, Any]


class Journal:
    """The journal of one run, open for appending and locked while the run goes on."""

    def __init__(self, state_dir: Path, namespace: str, run_id: str) -> None:
        self.path = journal_dir(state_dir, namespace) / f"{run_id}.jsonl"
        self.run_id = run_id
        self.count = 0
        self._file: IO[str] | None = None

    def open(self) -> Journal:
        """Create (or reopen) the file and lock it; existing entries are counted."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a+", encoding="utf-8")
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        self._file.seek(0)
        self.count = sum(1 for _ in self._file)
        return self

    def append(self, op: str, **data: Any) -> int:
        """Append one entry (flushed to the OS at once); returns its index."""
        self.append_all([Entry(op, data)])
        return self.count - 1

    def append_all(self, entries: list[Entry]) -> None:
        """Append `entries` in one write (flushed to the OS at once)."""
        if self._file is None:
            raise RuntimeError("journal not open")
        self._file.write("".join(json.dumps({"op": e.op, **e.data}, default=str) + "\n" for e in entries))
        self._file.flush()
        self.count += len(entries)

    def entries(self) -> list[Entry]:
        """Every entry written so far."""
        return read_entries(self.path)

    def close(self, remove: bool) -> None:
        """Unlock and close; `remove` deletes the file (everything in it reached Redis)."""
        if self._file is None:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        else:
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None


def read_entries(path: Path) -> list[Entry]:
    """The entries of a journal file; a torn last line (a crash mid-write) is skipped."""
    found = []
    with path.open(encoding="utf-8") as file:
        for line in file:
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("journal %s: skipping an unreadable line", path)
                continue
            found.append(Entry(raw.pop("op", ""), raw))
    return found


def write_back(
    redis: Redis,
    keys: Keys,
    run_id: str,
    entries: list[Entry],
    confirmed: int,
    outside_wins: bool = False,
    lease_seconds: float | None = None,
) -> tuple[int, RunRecord | None]:
    """Write a run's journal `entries` to Redis, each once: entries up to index `confirmed` (-1:
    none) already reached Redis, unless Redis has lost the run (then everything is written again).
    One transaction, watched on the run and on how far its journal was applied, so concurrent
    writers apply each entry once. With `outside_wins` (the run is still going), a record Redis
    shows ended while ours is not is left alone and returned: someone else ended the run.
    `lease_seconds` (the executing process itself) renews the run's lease in the same transaction,
    so a record written back is never seen running without one. Returns the index of the last
    entry now in Redis, and that record.
    """
    applied_key, run_key = keys.journal_applied(run_id), keys.run(run_id)
    checkpoint_keys = sorted({_checkpoint_key(keys, e.data) for e in entries if e.op == "checkpoint"})
    ours = _last_record(entries)
    last = len(entries) - 1
    while True:
        with redis.pipeline() as pipe:
            try:
                pipe.watch(applied_key, run_key, *checkpoint_keys)  # type: ignore[no-untyped-call]
                stored = parse_record(pipe.hgetall(run_key))
                applied = int(optional_text(pipe.get(applied_key)) or -1)
                start = max(confirmed, applied) + 1 if stored is not None else 0
                ended = stored is not None and not stored.is_active and ours is not None and ours.is_active
                outside = stored if outside_wins and ended else None
                current = {key: pipe.get(key) for key in checkpoint_keys}
                pipe.multi()
                _write(pipe, keys, entries[start:], stored is None, current, write_record=outside is None)
                pipe.set(applied_key, last, ex=APPLIED_TTL_SECONDS)
                if lease_seconds is not None and outside is None and ours is not None and ours.is_active:
                    pipe.set(keys.run_lease(run_id), "1", px=int(lease_seconds * 1000))
                pipe.execute()
                return last, outside
            except WatchError:
                continue


def record_entry(record: RunRecord, steps: list[StepRecord] | None = None, whole: bool = True) -> dict[str, Any]:
    """A `record` entry's data: the record's hash fields (with only `steps` when given: the ones
    that changed, and without the run's own field unless `whole`; written in order, the entries
    add up to the whole record), whether it is active, when it was made.
    """
    fields = record_fields(record, steps, whole)
    return {"run_id": record.run_id, "fields": fields, "active": record.is_active,
            "created": record.created_at.timestamp()}  # fmt: skip


def merged_record(entries: list[Entry]) -> dict[str, Any] | None:
    """The `record` entries among `entries` as one (their fields in order: later ones win)."""
    records = [e.data for e in entries if e.op == "record"]
    if not records:
        return None
    fields: dict[str, str] = {}
    for data in records:
        fields |= data["fields"]
    return records[-1] | {"fields": fields}


def _last_record(entries: list[Entry]) -> RunRecord | None:
    merged = merged_record(entries)
    return parse_record(merged["fields"]) if merged is not None else None


def _write(
    pipe: Pipeline, keys: Keys, entries: list[Entry], lost: bool, checkpoints: dict[str, Any], write_record: bool
) -> None:
    record = merged_record(entries)
    for entry in entries:
        if entry.op == "log" and entry.data.get("lines"):
            pipe.rpush(keys.run_log(entry.data["run_id"]), *entry.data["lines"])
            pipe.ltrim(keys.run_log(entry.data["run_id"]), -RUN_LOG_MAX_LINES, -1)
        elif entry.op == "audit":
            pipe.xadd(keys.audit, entry.data["fields"])
        elif entry.op == "checkpoint":
            _restore_checkpoint(pipe, keys, entry.data, checkpoints[_checkpoint_key(keys, entry.data)])
    if record is not None and write_record:
        if lost:
            pipe.delete(keys.run(record["run_id"]))  # a hash with only the steps written since the loss
        RunStore.write_fields(pipe, keys, record["run_id"], record["fields"], record["active"])
        pipe.zadd(keys.runs, {record["run_id"]: record["created"]})


def _checkpoint_key(keys: Keys, data: dict[str, Any]) -> str:
    return keys.checkpoint(data["service"], data["phase"])


def _restore_checkpoint(pipe: Pipeline, keys: Keys, data: dict[str, Any], current: Any) -> None:
    """Record the checkpoint a run took unless Redis holds a newer one; the one it replaces goes
    to the history.
    """
    checkpoint = Checkpoint.model_validate(data["checkpoint"])
    there = Checkpoint.model_validate_json(current) if current else None
    if there is not None and (there.taken_at >= checkpoint.taken_at or there == checkpoint):
        return
    pipe.set(_checkpoint_key(keys, data), checkpoint.model_dump_json())
    if there is not None:
        history = keys.checkpoint_history(data["service"], data["phase"])
        pipe.lpush(history, current)
        pipe.ltrim(history, 0, HISTORY_LENGTH - 1)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str] | None]:
    """The journal file, locked for this process; None when a live run (or replayer) holds it."""
    try:
        file = path.open("r+", encoding="utf-8")
    except FileNotFoundError:
        yield None
        return
    with file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield file


def replay(redis: Redis, keys: Keys, state_dir: Path, ended_by: str = "rollbot sync") -> list[str]:
    """Write every journal of this namespace on this host back to Redis, then remove it. A journal
    whose run is still going (its file locked) is left alone. A run whose process died mid-run is
    written back as it was (running, without a lease): the sweep ends it `interrupted`, kills what
    is left of its steps and frees its lock, as for any run whose process died; a verdict Redis
    already has (cancelled, interrupted) stands. Returns the run ids written back. Raises
    `RedisError` when Redis does not answer (nothing is removed then).
    """
    folder = journal_dir(state_dir, keys.namespace)
    if not folder.is_dir():
        return []
    replayed = []
    for path in sorted(folder.glob("*.jsonl")):
        with _locked(path) as file:
            if file is None or not path.exists():
                continue
            entries = read_entries(path)
            run_id = path.stem
            confirmed = max((int(e.data.get("upto", -1)) for e in entries if e.op == "synced"), default=-1)
            write_back(redis, keys, run_id, entries, confirmed, outside_wins=True)
            path.unlink()
            replayed.append(run_id)
            logger.warning("run %s: its journal was written back to Redis (%s)", run_id, ended_by)
    return replayed


def pending(state_dir: Path, namespace: str) -> list[Path]:
    """Journal files of `namespace` waiting on this host (for status output)."""
    folder = journal_dir(state_dir, namespace)
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def replay_quietly(
    redis: Redis, keys: Keys, state_dir: Path, who: str, after: Callable[[str], None] = lambda _run_id: None
) -> list[str]:
    """`replay`, logging instead of raising when Redis does not answer (process start-up); `after`
    is told of each run written back (its Slack message and escalation follow).
    """
    started = time.monotonic()
    try:
        done = replay(redis, keys, state_dir, who)
        for run_id in done:
            after(run_id)
    except (RedisError, OSError) as error:
        logger.warning("journal not written back yet (%s): %s", who, error)
        return []
    if done:
        logger.warning("%s wrote back %d journal(s) in %.2fs", who, len(done), time.monotonic() - started)
    return done
