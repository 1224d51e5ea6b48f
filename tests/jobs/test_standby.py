"""A child forked ahead of need does the one piece of work it is handed, or nothing; and `rollbot
worker` hands its jobs to the work horse it keeps standing by, which it takes down when it stops.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from redis import Redis
from rq import Queue
from rq.job import Job

from jobs.core.keys import Keys
from jobs.host.standby import Standby
from tests.conftest import pid_alive, start_worker, stop_worker, wait_for


def _exit_status(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_standby_does_the_work_it_is_handed(tmp_path: Path) -> None:
    done = tmp_path / "done"
    ready = tmp_path / "ready"
    standby = Standby.fork(lambda: ready.write_text(str(os.getpid())), done.write_bytes)
    wait_for(ready.exists, 10, "the standby to get ready")
    assert standby.alive()

    assert standby.hand(b"the job")

    assert _exit_status(standby.pid) == 0
    assert done.read_bytes() == b"the job"
    assert int(ready.read_text()) == standby.pid


def test_a_message_longer_than_a_pipe_holds_arrives_whole(tmp_path: Path) -> None:
    done = tmp_path / "done"
    message = os.urandom(300 * 1024)
    standby = Standby.fork(lambda: None, done.write_bytes)

    assert standby.hand(message)

    assert _exit_status(standby.pid) == 0
    assert done.read_bytes() == message


def test_a_retired_standby_never_works(tmp_path: Path) -> None:
    done = tmp_path / "done"
    standby = Standby.fork(lambda: None, done.write_bytes)

    standby.retire()

    assert not standby.alive()
    assert not pid_alive(standby.pid)
    assert not done.exists()


def test_a_standby_that_died_is_not_handed_anything(tmp_path: Path) -> None:
    def fail() -> None:
        raise RuntimeError("broken before any work")

    standby = Standby.fork(fail, (tmp_path / "done").write_bytes)
    wait_for(lambda: not standby.alive(), 10, "the broken standby to exit")

    assert not standby.hand(b"the job")
    assert not (tmp_path / "done").exists()


def test_a_standby_whose_parent_died_exits_unused(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    done = tmp_path / "done"
    middle = os.fork()
    if middle == 0:  # a parent that forks a standby, then dies without a word
        Standby.fork(lambda: ready.write_text(str(os.getpid())), done.write_bytes)
        os._exit(0)
    assert _exit_status(middle) == 0
    wait_for(ready.exists, 10, "the standby to get ready")
    orphan = int(ready.read_text())

    wait_for(lambda: not pid_alive(orphan), 15, "the orphaned standby to exit")
    assert not done.exists()


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def test_the_worker_hands_each_job_to_a_standing_horse_and_takes_it_down_when_it_stops(
    env: dict[str, str], redis_client: Redis
) -> None:
    worker = start_worker(env, "--queues", "notify")
    try:
        queue = Queue(Keys(env["ROLLBOT_NAMESPACE"]).queue("notify"), connection=redis_client)
        wait_for(lambda: len(_children(worker.pid)) >= 2, 30, "the scheduler and a standing work horse")
        standing = _children(worker.pid)

        first = queue.enqueue("os.getpid", result_ttl=60)
        wait_for(lambda: Job.fetch(first.id, connection=redis_client).get_status() == "finished", 30, "the first job")
        second = queue.enqueue("os.getpid", result_ttl=60)
        wait_for(lambda: Job.fetch(second.id, connection=redis_client).get_status() == "finished", 30, "the second job")

        horses = [Job.fetch(job.id, connection=redis_client).return_value() for job in (first, second)]
        assert horses[0] in standing, "the first job ran in the horse that stood by before it came"
        assert horses[0] != horses[1] != worker.pid
        wait_for(lambda: len(_children(worker.pid) - {horses[0], horses[1]}) >= 2, 30, "the next standing horse")
        left = _children(worker.pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        stop_worker(worker)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in left):
        time.sleep(0.05)
    assert not [pid for pid in left if pid_alive(pid)], "nothing the worker forked outlives it"
