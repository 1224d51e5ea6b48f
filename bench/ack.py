"""Ack latency: signed `/rollback phase2` at 50 concurrent clients, rollbot vs a bare Bolt app.

Both run on the same server (gunicorn, gthread, 2 processes × 16 threads) on this machine;
rollbot answers with the full plan (runbook, checkpoint read from Redis, Block Kit), the bare
app calls ack() and nothing else. Rounds alternate between them. Target: p99 ≤ 1.3×. A third
series serves rollbot on uvicorn's WSGI interface, the alternative to gunicorn that was measured.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from redis import Redis

from bench.common import Row, print_rows
from tests.conftest import ROLLBOT, free_port, git, write_runbook
from tests.standins.signed import SIGNING_SECRET, command_body, signed_post
from tests.standins.slack import SlackStandIn

CLIENTS = 50
REQUESTS_PER_CLIENT = 20
ROUNDS = 3
TARGET = 1.3
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _start(kind: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.servers", kind, str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(f"{base}/slack/events", content=b"", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def _load(base: str) -> list[float]:
    """Latency (seconds) of every request of 50 clients sending one after another."""
    body = command_body("/rollback", "phase2", "U0ONCALL", "http://127.0.0.1:9/response")  # never called

    def client(_: int) -> list[float]:
        times = []
        with httpx.Client() as http:
            for _ in range(REQUESTS_PER_CLIENT):
                started = time.perf_counter()
                response = signed_post(f"{base}/slack/events", body, client=http)
                times.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{base} answered {response.status_code}")
        return times

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return [t for times in pool.map(client, range(CLIENTS)) for t in times]


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run() -> list[Row]:
    """Measure rollbot, the bare app and rollbot-on-uvicorn in alternating rounds."""
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL)
    slack = SlackStandIn().start()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "service"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / "app.txt").write_text("good\n")
        git(repo, "add", "app.txt")
        git(repo, "commit", "-q", "-m", "good")
        runbook = write_runbook(Path(tmp) / "runbook.yaml", repo)  # phase2 as in the manual; U0ONCALL operates
        env = {**os.environ, "ROLLBOT_NAMESPACE": namespace, "REDIS_URL": REDIS_URL, "RUNBOOK": str(runbook),
               "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": slack.url, "WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING"}  # fmt: skip
        subprocess.run([ROLLBOT, "preflight", "phase2", "--yes"], env=env, check=True, capture_output=True)
        latencies: dict[str, list[float]] = {"rollbot": [], "bare": [], "uvicorn": []}
        try:
            for _ in range(ROUNDS):
                for kind in latencies:
                    proc, base = _start(kind, env)
                    try:
                        _load(base)  # warm-up: imports, connection pools, runbook cache
                        latencies[kind] += _load(base)
                    finally:
                        proc.terminate()
                        proc.wait(timeout=15)
        finally:
            slack.stop()
            keys = list(redis.scan_iter(match=f"{namespace}:*")) + list(redis.scan_iter(match=f"rq:*{namespace}*"))
            if keys:
                redis.delete(*keys)
    p = {kind: (_percentile(v, 50) * 1000, _percentile(v, 99) * 1000) for kind, v in latencies.items()}
    ratio = p["rollbot"][1] / p["bare"][1]
    server_ratio = p["uvicorn"][1] / p["rollbot"][1]
    count = len(latencies["rollbot"])
    return [
        Row("ack latency of `/rollback phase2`", f"p99 at {CLIENTS} concurrent clients: rollbot vs a bare Bolt app "
            "(ack only), same gunicorn settings", ratio, f"p99 ≤ {TARGET}×", ratio <= TARGET,
            f"rollbot p50 {p['rollbot'][0]:.1f} ms / p99 {p['rollbot'][1]:.1f} ms; bare p50 {p['bare'][0]:.1f} ms / "
            f"p99 {p['bare'][1]:.1f} ms; {count} requests each"),
        Row("web server choice", "p99 of rollbot on uvicorn (WSGI interface) vs on gunicorn (gthread)", server_ratio,
            "keep gunicorn unless uvicorn is clearly (> 1.3×) faster", server_ratio > 1 / TARGET,
            f"uvicorn p50 {p['uvicorn'][0]:.1f} ms / p99 {p['uvicorn'][1]:.1f} ms (p50 ratio "
            f"{p['uvicorn'][0] / p['rollbot'][0]:.2f}×); uvicorn serves WSGI through a deprecated adapter"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_rows(run())
