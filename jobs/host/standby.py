"""A child process forked ahead of need: it gets ready (a Redis connection, say), then waits to be
handed one piece of work, does it and exits. A worker that keeps one standing by starts a job
without the fork on its path: the fork, the child's first steps and its connection come before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
from collections.abc import Callable

logger = logging.getLogger(__name__)

PARENT_CHECK_SECONDS = 1.0  # how often a waiting standby checks that its parent still lives
READ_BYTES = 64 * 1024


class Standby:
    """A forked child waiting for one message (`hand`); `retire` ends it unused."""

    def __init__(self, pid: int, writer: int) -> None:
        self.pid = pid
        self._writer: int | None = writer
        self._exited = False

    @classmethod
    def fork(cls, ready: Callable[[], object], work: Callable[[bytes], object]) -> Standby:
        """Fork a child in its own process group that calls `ready()`, waits for a message and
        calls `work(message)` with it, then exits (status 1 when either raised). A child whose
        parent went away, or that is retired, exits without working.
        """
        reader, writer = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            _child(reader, writer, parent, ready, work)
        os.close(reader)
        return cls(pid, writer)

    def alive(self) -> bool:
        """Whether the child still waits (one that exited is reaped)."""
        if self._exited:
            return False
        try:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid = self.pid
        self._exited = pid == self.pid
        return not self._exited

    def hand(self, message: bytes) -> bool:
        """Give the waiting child its work; False (and the child reaped) when it is gone. From
        here on the child is the caller's to wait for.
        """
        if self._writer is None or not self.alive():
            self.retire()
            return False
        writer, self._writer = self._writer, None
        try:
            view = memoryview(message)
            while view:  # (the child reads as it comes: a message may be longer than the pipe holds)
                view = view[os.write(writer, view) :]
        except OSError as error:  # it exited between the two calls
            logger.warning("standby %s did not take its work: %s", self.pid, error)
            self.retire()
            return False
        finally:
            os.close(writer)  # end of message
        return True

    def retire(self) -> None:
        """End the child unused (it holds nothing yet: it is killed) and reap it."""
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None
        if self._exited:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self._exited = True


def _child(reader: int, writer: int, parent: int, ready: Callable[[], object], work: Callable[[bytes], object]) -> None:
    """The standby's life; never returns into the parent's code."""
    status = 1
    try:
        os.close(writer)
        os.setpgrp()
        ready()
        message = _wait(reader, parent)
        if message is not None:
            work(message)
        status = 0
    except BaseException:  # whatever happens, the child must not return into the parent's code
        logger.exception("standby process %s failed", os.getpid())
    finally:
        os._exit(status)


def _wait(reader: int, parent: int) -> bytes | None:
    """The message, once its writer closed the pipe; None when it closed it empty or the parent died."""
    chunks: list[bytes] = []
    while True:
        readable, _, _ = select.select([reader], [], [], PARENT_CHECK_SECONDS)
        if not readable:
            if os.getppid() != parent:
                return None
            continue
        chunk = os.read(reader, READ_BYTES)
        if not chunk:
            return b"".join(chunks) or None
        chunks.append(chunk)
