"""Runs one argv as its own process group, with a deadline, and kills the whole group when needed."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

logger = logging.getLogger(__name__)

KILL_GRACE_SECONDS = 3.0  # SIGTERM first, SIGKILL the group this long after
REPORT_AFTER_SECONDS = 0.05  # a step still running after this has its process group recorded
STOP_POLL_SECONDS = 0.25  # how often a running step checks for a cancel request
RUN_MARKER_ENV = "ROLLBOT_RUN_ID"  # every step process carries it; clean-up checks it before killing
MAX_OUTPUT_BYTES = 16 * 1024 * 1024  # a step's output file is cut back to its last part beyond this
KEEP_OUTPUT_BYTES = 1024 * 1024

Ending = Literal["exited", "deadline", "stopped"]


@dataclass(frozen=True)
class ProcessResult:
    """How a process ended: on its own (`exited`), at its deadline, or stopped on request."""

    ending: Ending
    exit_code: int | None
    duration: float
    stop_reason: str | None = None


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    output: IO[bytes],
    deadline: float,
    should_stop: Callable[[], str | None],
    on_start: Callable[[int], None] = lambda _pgid: None,
    stderr: IO[bytes] | None = None,
) -> ProcessResult:
    """Run `argv` (no shell) in its own session until it exits, `deadline` (monotonic) passes or
    `should_stop()` returns a reason. stdout and stderr go to `output` (stderr to `stderr` when
    given: a caller that reads the output back, as git's, keeps them apart). `on_start(pgid)` is called
    once the process has run for `REPORT_AFTER_SECONDS`. On deadline or stop the
    whole process group gets SIGTERM, then SIGKILL after a grace period: no child is left behind.
    A program that cannot be started ends as `exited` with code 127 and the reason in `output`.
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if stderr is None else stderr,
            start_new_session=True,
        )
    except OSError as error:
        output.write(f"cannot start {argv[0]}: {error.strerror}\n".encode())
        output.flush()
        return ProcessResult("exited", 127, time.monotonic() - started)
    ending: Ending = "exited"
    reason: str | None = None
    with _ExitWatch(proc) as exited:
        try:
            # Most steps of a rollback are quick: report the process group only once it outlives a
            # short first wait, which saves a Redis round trip per quick step.
            if exited(min(max(0.0, deadline - time.monotonic()), REPORT_AFTER_SECONDS)):
                return ProcessResult("exited", proc.wait(), time.monotonic() - started)
            on_start(proc.pid)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    ending = "deadline"
                    break
                if (reason := should_stop()) is not None:
                    ending = "stopped"
                    break
                if exited(min(remaining, STOP_POLL_SECONDS)):
                    return ProcessResult("exited", proc.wait(), time.monotonic() - started)
                cap_output(output)
        except BaseException:
            _kill_group(proc)  # KeyboardInterrupt in the CLI, or a job timeout: never leave the step behind
            raise
    _kill_group(proc)
    return ProcessResult(ending, proc.returncode, time.monotonic() - started, reason)


class _ExitWatch:
    """Waits for a child's exit without reaping it: on a pidfd (Linux ≥ 5.3) it wakes the moment the
    process exits; elsewhere it falls back to polling.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._pidfd: int | None = None
        self._poller = select.poll()

    def __enter__(self) -> Callable[[float], bool]:
        with contextlib.suppress(AttributeError, OSError):
            self._pidfd = os.pidfd_open(self._proc.pid)
            self._poller.register(self._pidfd, select.POLLIN)
        return self._wait

    def __exit__(self, *_exc: object) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)

    def _wait(self, seconds: float) -> bool:
        if self._pidfd is not None:
            return bool(self._poller.poll(max(1, int(seconds * 1000))))
        try:
            self._proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True


def _leader_exited(pid: int) -> bool:
    """True once the leader has exited, without reaping it (so its pgid stays reserved)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
    except ChildProcessError:
        return True
    return info is not None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group, wait up to the grace period, SIGKILL whatever is left, then reap."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    grace_ends = time.monotonic() + KILL_GRACE_SECONDS
    while time.monotonic() < grace_ends and not _leader_exited(proc.pid):
        time.sleep(0.02)
    # The unreaped leader keeps the group id reserved, so this cannot hit another group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()


def _parent_and_group(pid: str) -> tuple[int, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces; the fields after it are fixed.
    fields = stat.rsplit(")", 1)[-1].split()
    return (int(fields[1]), int(fields[2])) if len(fields) > 2 else None


def _carries_marker(pid: str, run_id: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{RUN_MARKER_ENV}={run_id}".encode() in environ.split(b"\0")


def _marked(run_id: str) -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, group) of every process carrying run `run_id`'s marker."""
    if not Path("/proc/self/stat").exists():
        return
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (ids := _parent_and_group(entry.name)) and _carries_marker(entry.name, run_id):
            yield int(entry.name), *ids


def step_groups_of(parent_pid: int, run_id: str) -> set[int]:
    """Process groups of the steps that `parent_pid` (an executor) started for run `run_id`."""
    return {group for pid, parent, group in _marked(run_id) if parent == parent_pid and pid == group}


def public_environment(private_names: set[str], private_prefixes: tuple[str, ...]) -> dict[str, str]:
    """This process's environment without the names and prefixes given (rollbot's own settings),
    compared case-insensitively: pydantic-settings reads `Redis_Url` as `REDIS_URL`.
    """
    names = {name.upper() for name in private_names}
    prefixes = tuple(prefix.upper() for prefix in private_prefixes)
    return {k: v for k, v in os.environ.items() if k.upper() not in names and not k.upper().startswith(prefixes)}


def output_file(run_id: str) -> IO[bytes]:
    """An anonymous file for a run's step output, in append mode at the OS level (O_APPEND), so
    the steps' writes always land at its end, also after `cap_output` cut it back.
    """
    output = tempfile.TemporaryFile(mode="a+b", prefix=f"rollbot-{run_id}-")  # noqa: SIM115 - the caller closes it
    flags = fcntl.fcntl(output.fileno(), fcntl.F_GETFL)
    fcntl.fcntl(output.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
    return output


def cap_output(output: IO[bytes]) -> None:
    """Keep a step's output file bounded: past `MAX_OUTPUT_BYTES`, only its last part is kept.
    The file must be opened for appending, so the step's own writes keep going to its end.
    """
    size = os.fstat(output.fileno()).st_size
    if size <= MAX_OUTPUT_BYTES:
        return
    tail = os.pread(output.fileno(), KEEP_OUTPUT_BYTES, size - KEEP_OUTPUT_BYTES)
    os.ftruncate(output.fileno(), 0)
    output.write(f"[rollbot: {size - KEEP_OUTPUT_BYTES} bytes of output dropped]\n".encode() + tail)
    output.flush()


def kill_orphaned_group(pgid: int, run_id: str) -> int:
    """SIGKILL the members of group `pgid` that belong to run `run_id` (checked through their
    environment, so a reused group id is never hit). For clean-up after the process that ran the
    step died. Returns how many processes were killed; Linux only (/proc), 0 elsewhere.
    """
    killed = 0
    for pid in (pid for pid, _parent, group in _marked(run_id) if group == pgid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    if killed:
        logger.warning("killed %s leftover process(es) of run %s (group %s)", killed, run_id, pgid)
    return killed
