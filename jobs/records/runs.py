"""Run records: what a run is doing and did, in Redis, readable by any process while it runs."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from redis import Redis
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from jobs.core.exceptions import RunNotFoundError
from jobs.core.keys import Keys
from jobs.core.redis_values import text, watched_update

RunKind = Literal["rollback", "preflight", "validation"]
RunStatus = Literal[
    "queued",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "budget_exceeded",
    "cancelled",
    "interrupted",
    "refused",
]
StepStatus = Literal[
    "pending",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "budget_exceeded",
    "cancelled",
    "interrupted",
    "skipped",
]
ACTIVE_STATUSES: frozenset[str] = frozenset({"queued", "running"})
QUEUE_FOR_KIND: dict[str, str] = {"rollback": "rollback", "preflight": "rollback", "validation": "validation"}
LANE_FOR_KIND: dict[str, str] = {"rollback": "change", "preflight": "change", "validation": "validation"}
_ID_PREFIX = {"rollback": "rb", "preflight": "pf", "validation": "va"}


def utcnow() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def new_run_id(kind: RunKind, now: datetime) -> str:
    """`rb-20261125-174233-3fa2`: kind, UTC time, random suffix. Valid as an RQ job id."""
    return f"{_ID_PREFIX[kind]}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class StepRecord(BaseModel):
    """One step of a run as it happened."""

    index: int
    title: str
    command: str
    status: StepStatus = "pending"
    exit_code: int | None = None
    started_at: datetime | None = None
    duration: float | None = None
    detail: str | None = None
    output_tail: str = ""
    pgid: int | None = None


class RunRecord(BaseModel):
    """A rollback, preflight or validation run. Written by the executing process; others read it."""

    run_id: str
    kind: RunKind
    service: str
    phase: str
    level: str | None = None
    actor: str
    status: RunStatus = "queued"
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    budget: float
    elapsed: float | None = None
    steps: list[StepRecord] = []
    checkpoint_tag: str | None = None
    checkpoint_commit: str | None = None
    head_before: str | None = None
    head_after: str | None = None
    host: str | None = None
    pid: int | None = None
    job_id: str | None = None
    error: str | None = None
    holder_run_id: str | None = None
    cancelled_by: str | None = None
    parent_run_id: str | None = None  # the run this one retries or escalates
    incident_key: str | None = None  # PagerDuty dedup key: shared by a run and its retries/escalations
    alert_id: str | None = None  # the alert this rollback answers (automation, or its card's button)
    approved_by: str | None = None  # the second person who approved it (two-person rule)
    rehearsal: bool = False  # a rehearsal: a scratch clone, no lock, never pages (jobs.runs.rehearsal)

    @property
    def is_active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE_STATUSES

    @property
    def lane(self) -> str:
        """`change` (rollback, preflight) or `validation`: one run at a time per service and lane.
        Rehearsals have their own lane, which no lock guards: they may run beside anything.
        """
        return "rehearsal" if self.rehearsal else LANE_FOR_KIND[self.kind]

    @property
    def current_step(self) -> StepRecord | None:
        """The step running now, if any."""
        return next((s for s in self.steps if s.status == "running"), None)


@dataclass(frozen=True)
class RunTarget:
    """What a run does to what: its kind, service, phase and level. Its RQ job carries it (`meta`), so
    the work horse knows the lock and checkpoint to take before it has read the record.
    """

    kind: RunKind
    service: str
    phase: str
    level: str | None

    @classmethod
    def of(cls, record: RunRecord) -> RunTarget:
        """The record's target."""
        return cls(record.kind, record.service, record.phase, record.level)

    @property
    def lane(self) -> str:
        """Its lane (see `RunRecord.lane`)."""
        return LANE_FOR_KIND[self.kind]

    def meta(self) -> dict[str, Any]:
        """As its job's `meta` holds it."""
        return {_TARGET_META: {"kind": self.kind, "service": self.service, "phase": self.phase, "level": self.level}}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> RunTarget | None:
        """The target a job's `meta` holds; None when it holds none (a job queued by an older rollbot)."""
        said = meta.get(_TARGET_META)
        if not isinstance(said, dict) or said.get("kind") not in LANE_FOR_KIND:
            return None
        try:
            return cls(said["kind"], str(said["service"]), str(said["phase"]), said.get("level"))
        except KeyError:
            return None


_TARGET_META = "rollbot_run"


class RunStore:
    """Run records in Redis: a hash per run (`record` plus one `step:<n>` field per step, so a step
    is saved in one round trip), an index by time and a set of active runs.
    """

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def create(self, record: RunRecord, pipe: Pipeline | None = None) -> RunRecord:
        """Store a new record and index it (queued on `pipe` when given: stored when it executes)."""
        if pipe is not None:
            self._queue_new(pipe, record)
            return record
        with self._redis.pipeline() as own:
            self._queue_new(own, record)
            own.execute()
        return record

    def _queue_new(self, pipe: Pipeline, record: RunRecord) -> None:
        self._write(pipe, record)
        pipe.zadd(self._keys.runs, {record.run_id: record.created_at.timestamp()})

    def get(self, run_id: str) -> RunRecord:
        """The record of `run_id`; `RunNotFoundError` when there is none."""
        record = parse_record(self._redis.hgetall(self._keys.run(run_id)))
        if record is None:
            raise RunNotFoundError(f"No run `{run_id}`. `rollbot history` lists recent runs.")
        return record

    def save_step(self, run_id: str, step: StepRecord, pipe: Pipeline | None = None) -> None:
        """Store one step of a running run (only its executor writes steps while it runs)."""
        (pipe or self._redis).hset(self._keys.run(run_id), f"step:{step.index}", step.model_dump_json())

    def update(self, run_id: str, change: Callable[[RunRecord], bool | None]) -> RunRecord:
        """Apply `change` to the stored record atomically (optimistic locking, retried on conflict).
        `change` returns False to leave the record as it is. Returns the record as stored.
        """
        key = self._keys.run(run_id)
        record = watched_update(self._redis, key, lambda pipe: parse_record(pipe.hgetall(key)), change, self._write)
        if record is None:
            raise RunNotFoundError(f"No run `{run_id}`.")
        return record

    def _write(self, pipe: Pipeline, record: RunRecord) -> None:
        self.write(pipe, self._keys, record)

    @staticmethod
    def write(pipe: Pipeline, keys: Keys, record: RunRecord) -> None:
        """Queue the whole record (and its place among the active runs) on `pipe`."""
        RunStore.write_fields(pipe, keys, record.run_id, record_fields(record), record.is_active)

    @staticmethod
    def write_fields(pipe: Pipeline, keys: Keys, run_id: str, fields: dict[str, str], active: bool) -> None:
        """Queue a record given as its hash fields (see `record_fields`)."""
        mapping: dict[FieldT, EncodableT] = {name: value for name, value in fields.items()}
        pipe.hset(keys.run(run_id), mapping=mapping)
        if active:
            pipe.sadd(keys.active_runs, run_id)
        else:
            pipe.srem(keys.active_runs, run_id)

    def recent(self, count: int = 10, steps: bool = True) -> list[RunRecord]:
        """The newest `count` runs, newest first. Without `steps`, ended runs come without their
        steps (one field of each is read: a list of runs costs the same however many steps they had).
        """
        ids = [text(i) for i in self._redis.zrevrange(self._keys.runs, 0, count - 1)]
        return self._many(ids) if steps else self._summaries(ids)

    def _summaries(self, ids: list[str]) -> list[RunRecord]:
        with self._redis.pipeline(transaction=False) as pipe:
            for run_id in ids:
                pipe.hget(self._keys.run(run_id), "record")
            found = [RunRecord.model_validate_json(raw) for raw in pipe.execute() if raw is not None]
        active = {r.run_id: r for r in self._many([r.run_id for r in found if r.is_active])}
        return [active.get(r.run_id, r) for r in found]

    def active(self, members: Iterable[bytes | str] | None = None) -> list[RunRecord]:
        """Queued and running runs, oldest first. `members`: the set of active runs as the caller
        just read it (else it is read here).
        """
        if members is None:
            members = self._redis.smembers(self._keys.active_runs)
        return sorted(self._many([text(i) for i in members]), key=lambda r: r.created_at)

    def _many(self, ids: list[str]) -> list[RunRecord]:
        with self._redis.pipeline(transaction=False) as pipe:
            for run_id in ids:
                pipe.hgetall(self._keys.run(run_id))
            found = [parse_record(fields) for fields in pipe.execute()]
        return [record for record in found if record is not None]


def record_fields(record: RunRecord, steps: list[StepRecord] | None = None, whole: bool = True) -> dict[str, str]:
    """The record as its Redis hash fields: `record` (without steps; left out when not `whole`:
    only steps changed) and one `step:<n>` per step (of `steps` only, when given).
    """
    fields = {"record": record.model_dump_json(exclude={"steps"})} if whole or steps is None else {}
    fields |= {f"step:{step.index}": step.model_dump_json() for step in (record.steps if steps is None else steps)}
    return fields


def parse_record(fields: Any) -> RunRecord | None:
    """A record from its hash fields (None for a missing key)."""
    if not fields:
        return None
    values = {text(k): v for k, v in fields.items()}
    if "record" not in values:
        return None  # only step fields: Redis lost the record while its run went on (it writes it back)
    record = RunRecord.model_validate_json(values.pop("record"))
    steps = sorted((StepRecord.model_validate_json(v) for v in values.values()), key=lambda s: s.index)
    record.steps = steps
    return record
