"""Alerts: a health source's breach, or a matched message in the alert channel, with its card.

An alert is stored once per fingerprint while it is open; the same alert again only bumps a
counter (one INCR), so a storm of identical messages costs Redis a few commands each.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from redis import Redis
from redis.client import Pipeline

from jobs.core.keys import Keys
from jobs.core.redis_values import optional_text, text, watched_update

AlertState = Literal["firing", "acknowledged", "resolved", "silenced"]
AlertKind = Literal["breach", "inconclusive", "blind"]
TREND_LENGTH = 10
ALERT_TTL_SECONDS = 30 * 86400
# Keys are built from ARGV prefixes (fine on one Redis server, as rollbot uses; not on Redis Cluster).
_REPEAT = """
local id = redis.call('get', KEYS[1])
if not id then return false end
local alert = ARGV[1] .. id
local raw = redis.call('get', alert)
if not raw then return false end
local resolved = cjson.decode(raw)['resolved_at']
if resolved ~= nil and resolved ~= cjson.null then return {id, resolved, 0} end
redis.call('incr', alert .. ARGV[2])
redis.call('expire', alert .. ARGV[2], ARGV[3])
local due = redis.call('set', alert .. ARGV[4], '1', 'NX', 'PX', ARGV[5])
return {id, false, due and 1 or 0}
"""
_REPLACE_CLAIM = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


def new_alert_id(now: datetime) -> str:
    """`al-20261130-211501-9c1e`: UTC time and a random suffix."""
    return f"al-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class Alert(BaseModel):
    """One alert and everything its card shows."""

    alert_id: str
    origin: Literal["monitor", "message"]
    source: str  # the health source, or the alert rule that matched a message
    service: str
    fingerprint: str
    kind: AlertKind = "breach"
    state: AlertState = "firing"
    metric: str
    value: float | None = None  # the latest
    first_value: float | None = None  # when it was raised (set by `model_post_init` from `value`)
    threshold: str = ""  # "< 0.9", as people read it
    severity: str = "critical"
    detail: str = ""  # what the last measurement or message said
    trend: list[float | None] = []  # the last measurements' values, oldest first
    first_seen: datetime
    last_seen: datetime
    phase: str | None = None
    level: str | None = None
    mode: Literal["auto", "suggest"] | None = None
    decision: str = ""  # what rollbot did about it, in one line
    acted_as: AlertKind | None = None  # the kind it was last acted upon as (None: not yet)
    confirmed: bool = False  # measured by the monitor (a message alert is not, until it measures it)
    dry_run: bool = False
    run_id: str | None = None  # the rollback answering it
    run_status: str | None = None
    next_level: str | None = None  # offered when health did not recover after the run
    incident_key: str | None = None
    acknowledged_by: str | None = None
    silenced_by: str | None = None
    silenced_until: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    posted_by: str | None = None  # who posted the matched message
    message_text: str | None = None
    channel: str | None = None
    ts: str | None = None
    count: int = 1  # filled from the counter when read

    def model_post_init(self, _context: object) -> None:
        """A new alert remembers the value it was raised with."""
        if self.first_value is None:
            self.first_value = self.value

    @property
    def is_open(self) -> bool:
        """Not resolved."""
        return self.state != "resolved"

    def seen(self, value: float | None, detail: str, now: datetime) -> None:
        """Record a new measurement (or message) of the alert."""
        self.value = value if value is not None else self.value
        self.detail = detail
        self.last_seen = now
        self.trend = [*self.trend, value][-TREND_LENGTH:]


class AlertStore:
    """Alerts as JSON values in Redis, their counters, and the fingerprint index."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._repeat = redis.register_script(_REPEAT)

    def get(self, alert_id: str) -> Alert | None:
        """The alert with its current count; None when there is none."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(self._keys.alert(alert_id))
            pipe.get(self._keys.alert_count(alert_id))
            raw, count = pipe.execute()
        if raw is None:
            return None
        alert = Alert.model_validate_json(raw)
        alert.count = int(count or 1)
        return alert

    def create(self, alert: Alert) -> None:
        """Store a new alert and count it (repeats counted before it was stored are kept)."""
        with self._redis.pipeline() as pipe:
            pipe.set(self._keys.alert(alert.alert_id), alert.model_dump_json(exclude={"count"}), ex=ALERT_TTL_SECONDS)
            pipe.incr(self._keys.alert_count(alert.alert_id))
            pipe.expire(self._keys.alert_count(alert.alert_id), ALERT_TTL_SECONDS)
            pipe.execute()

    def repeat_open(self, fingerprint: str, card_due_ms: int) -> tuple[str, datetime | None, bool] | None:
        """A storm's repeat in one round trip: the alert `fingerprint` points at, as (id,
        `resolved_at`, whether its card update was marked due by this call). An open alert is
        counted and its card marked due (unless it is already); a resolved one is left as it is
        (the caller decides: a repeat within the grace period, or a recurrence). None: no alert.
        """
        prefix = self._keys.alert("")
        found = self._repeat(keys=[self._keys.alert_fingerprint(fingerprint)],
                             args=[prefix, self._keys.alert_count("").removeprefix(prefix), ALERT_TTL_SECONDS,
                                   self._keys.alert_card_due("").removeprefix(prefix), card_due_ms])  # fmt: skip
        if not found:
            return None
        resolved = optional_text(found[1]) if found[1] else None
        return text(found[0]), datetime.fromisoformat(resolved) if resolved else None, bool(found[2])

    def claim(self, fingerprint: str, alert_id: str, ttl: float) -> str | None:
        """Make `alert_id` the open alert of `fingerprint` for `ttl` seconds, unless one is open:
        returns the open one's id then (and None when the claim succeeded).
        """
        key = self._keys.alert_fingerprint(fingerprint)
        if self._redis.set(key, alert_id, nx=True, px=max(1, int(ttl * 1000))):
            return None
        return optional_text(self._redis.get(key)) or None

    def replace_claim(self, fingerprint: str, old_id: str, alert_id: str, ttl: float) -> bool:
        """Point `fingerprint` at `alert_id` if it still points at `old_id` (compare and set)."""
        key = self._keys.alert_fingerprint(fingerprint)
        return bool(self._redis.eval(_REPLACE_CLAIM, 1, key, old_id, alert_id, max(1, int(ttl * 1000))))

    def discard(self, alert_id: str) -> None:
        """Forget an alert that was stored but lost the claim to an open one (a repeat)."""
        self._redis.delete(self._keys.alert(alert_id), self._keys.alert_count(alert_id))

    def release(self, fingerprint: str, alert_id: str) -> None:
        """Forget `fingerprint`'s open alert if it is still `alert_id` (it resolved)."""
        key = self._keys.alert_fingerprint(fingerprint)
        if optional_text(self._redis.get(key)) == alert_id:
            self._redis.delete(key)

    def count_repeat(self, alert_id: str, card_due_ms: int) -> bool:
        """One more sighting, and mark the card's update as due unless it is already: True when this
        call marked it (the caller schedules the update). One round trip.
        """
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(self._keys.alert_count(alert_id))
            pipe.expire(self._keys.alert_count(alert_id), ALERT_TTL_SECONDS)
            pipe.set(self._keys.alert_card_due(alert_id), "1", nx=True, px=card_due_ms)
            return bool(pipe.execute()[2])

    def bump(self, alert_id: str, by: int = 1) -> int:
        """Count `by` more sightings; returns the count."""
        with self._redis.pipeline() as pipe:
            pipe.incrby(self._keys.alert_count(alert_id), by)
            pipe.expire(self._keys.alert_count(alert_id), ALERT_TTL_SECONDS)
            count, _ = pipe.execute()
        return int(count)

    def update(self, alert_id: str, change: Callable[[Alert], bool | None]) -> Alert | None:
        """Apply `change` atomically (it returns False to leave the alert as is)."""
        name = self._keys.alert(alert_id)

        def read(pipe: Pipeline) -> Alert | None:
            raw = pipe.get(name)
            return Alert.model_validate_json(raw) if raw is not None else None

        def write(pipe: Pipeline, alert: Alert) -> None:
            pipe.set(name, alert.model_dump_json(exclude={"count"}), ex=ALERT_TTL_SECONDS)

        updated = watched_update(self._redis, name, read, change, write)
        if updated is not None:
            updated.count = int(self._redis.get(self._keys.alert_count(alert_id)) or 1)
        return updated

    def silenced_by(self, fingerprint: str) -> str | None:
        """Who silenced alerts with this fingerprint, while the silence lasts."""
        return optional_text(self._redis.get(self._keys.silence(fingerprint)))

    def silence(self, fingerprint: str, user: str, seconds: float) -> None:
        """Silence alerts with this fingerprint for `seconds`."""
        self._redis.set(self._keys.silence(fingerprint), user, ex=max(1, int(seconds)))
