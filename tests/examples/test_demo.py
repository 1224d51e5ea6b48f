"""`make demo`'s scenario end to end, against the suite's Redis: it succeeds and leaves no keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from redis import Redis

from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


def demo_keys(redis: Redis) -> list[bytes]:
    keys = list(redis.scan_iter(match="*demo*", count=1000))
    return keys + [m for registry in ("rq:queues", "rq:workers") for m in redis.smembers(registry) if b"demo" in m]


def test_the_demo_incident_runs_and_cleans_up(redis_client: Redis) -> None:
    before = set(demo_keys(redis_client))
    done = subprocess.run(
        [sys.executable, "-m", "examples.demo"], cwd=ROOT, env={**os.environ, "REDIS_URL": REDIS_URL},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for step in ("1. Pre-flight", "3. The monitor notices", "4. Validation", "6. The incident report"):
        assert step in done.stdout
    assert "Rolled back automatically" in done.stdout and "main is back at pre-factory-consolidation-" in done.stdout
    assert "1 page, resolved" in done.stdout
    assert set(demo_keys(redis_client)) <= before, "the demo leaves no keys behind"
