"""`rollbot worker`: an RQ worker (with the scheduler) that cleans up after runs it had to kill."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import pickle
import signal
import socket
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Worker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.worker import WorkerStatus

from jobs.alerts.monitor import ensure_monitors
from jobs.context import Context
from jobs.core.exceptions import RunbookError
from jobs.core.keys import QUEUE_NAMES
from jobs.core.task_names import Task, all_tasks
from jobs.factory import get_context, get_queue, get_slack_client
from jobs.guardrails.access import ensure_group_refresh
from jobs.host.process import kill_orphaned_group, step_groups_of
from jobs.host.standby import Standby
from jobs.runbook.catalog import catalog
from jobs.runs.lifecycle import finalize_abandoned_run, kill_step_processes, sweep_interrupted
from jobs.runs.rehearsal_schedule import ensure_rehearsals

logger = logging.getLogger(__name__)

MAINTENANCE_INTERVAL_SECONDS = 60
# How long RQ's command listener (a pubsub thread) waits before looking again whether it should stop.
# A shutdown waits for it: redis-py's `PubSubWorkerThread.stop()` joins the thread, and a listener
# that saw its channel unsubscribed first waits this long for a subscription (RQ's own: 60 s).
COMMAND_LISTENER_POLL_SECONDS = 0.5
IN_PROCESS_TASKS = frozenset({Task.MONITOR_POLL})  # run in the worker's own process, no fork


class _ReadJob(Job):
    """RQ's job, remembering the hash it was read from when dequeued: the work horse standing by is
    handed that hash (a forked horse gets the job object itself), not left to read it again.
    """

    read_from: dict[bytes, bytes] | None = None

    def restore(self, raw_data: Any) -> Any:
        """RQ's restore; the hash is kept."""
        self.read_from = raw_data
        return super().restore(raw_data)


class RollbotWorker(Worker):
    """RQ's forking worker, plus: a stopped or killed work horse takes its run's step processes with
    it, and the run ends `cancelled` (stop command) or `interrupted` (anything else), lock freed.
    Outside burst mode the next work horse is forked ahead of time and waits, connected to Redis,
    to be handed its job (`jobs.host.standby`): a job starts without a fork on its path.
    """

    job_class = _ReadJob
    _standby: Standby | None = None
    _keep_standby = False

    def work(self, burst: bool = False, *args: Any, **kwargs: Any) -> bool:
        """RQ's work loop; a worker that keeps going keeps a work horse standing by."""
        self._keep_standby = not burst
        return bool(super().work(burst, *args, **kwargs))

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> tuple[Job, Queue] | None:
        """Have a work horse standing by, then wait for the next job as RQ does."""
        if self._keep_standby and (self._standby is None or not self._standby.alive()):
            if self._standby is not None:
                self._standby.retire()  # (one that died unused: its pipe is closed)
            self._standby = Standby.fork(self._stand_by, self._take_job)
        return super().dequeue_job_and_maintain_ttl(*args, **kwargs)

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        """Hand the job to the work horse standing by; fork one (as RQ does) when none is."""
        standby, self._standby = self._standby, None
        handed = _handover(job, self.execution, queue, self.connection.get_encoder())
        if standby is None or handed is None or not standby.hand(handed):
            super().fork_work_horse(job, queue)
            return
        os.environ["RQ_WORKER_ID"], os.environ["RQ_JOB_ID"] = self.name, job.id
        self._horse_pid = standby.pid
        self.procline(f"Handed to {standby.pid} at {time.time()}")  # type: ignore[no-untyped-call]

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, its three commands in one round trip (one comes right after each dequeue)."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        with self.connection.pipeline() as pipe:
            super().heartbeat(timeout, pipe)
            pipe.execute()

    def _stand_by(self) -> None:
        """In the standby: a work horse's signals and a Redis connection, ready before any job."""
        self.setup_work_horse_signals()  # type: ignore[no-untyped-call]
        try:
            self.connection.ping()
        except RedisError as error:  # the job connects when it comes
            logger.info("work horse standing by without a Redis connection: %s", error)

    def _take_job(self, message: bytes) -> None:
        """In the standby: become the work horse of the job handed over (as RQ's forked horses are)."""
        job, execution, queue_name = _taken_over(message, self.job_class, self.connection, self.serializer)
        os.environ["RQ_WORKER_ID"], os.environ["RQ_JOB_ID"] = self.name, job.id
        self.execution = execution
        queue = self.queue_class(queue_name, connection=self.connection, job_class=self.job_class,
                                 serializer=self.serializer, death_penalty_class=self.death_penalty_class)  # fmt: skip
        self.main_work_horse(job, queue)

    def teardown(self) -> None:
        """RQ's teardown; the work horse standing by goes (it holds nothing yet)."""
        if self._standby is not None and not self.is_horse:
            self._standby.retire()
            self._standby = None
        super().teardown()  # type: ignore[no-untyped-call]

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Kill the horse, then its run's step process groups (RQ's stop command lands here). The
        horse goes first, so it cannot record a step killed under it as an ordinary failure; the
        groups are found as the horse's marked children, so even a step started a moment ago goes.
        """
        job_id = self.get_current_job_id()
        groups = step_groups_of(self.horse_pid, job_id) if job_id and self.horse_pid else set()
        super().kill_horse(sig)
        if job_id:
            for group in groups:
                kill_orphaned_group(group, job_id)
            kill_step_processes(get_context(), job_id)

    def subscribe(self) -> None:
        """RQ's listener for worker commands (stop a job, shut down), polling every half second so
        that a shutdown or the end of a burst never waits a minute for it; a command still wakes
        it at once.
        """
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = pubsub = self.connection.pubsub()
        pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = pubsub.run_in_thread(  # type: ignore[assignment]  # RQ declares it None only
            sleep_time=COMMAND_LISTENER_POLL_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Fork a work horse for the job, except for a health poll: a poll is quick and frequent
        (every second per source), so it runs in this process, as RQ's `SimpleWorker` runs every
        job; a fork per poll would cost more than the poll and cap the sources one worker can watch.
        """
        if job.func_name not in IN_PROCESS_TASKS:
            super().execute_job(job, queue)
            return
        execution = self.prepare_execution(job)
        self.perform_job(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)

    def handle_job_failure(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> None:
        """RQ's failure handling, then end the run if the job left it unfinished."""
        stopped = self._stopped_job_id == job.id
        super().handle_job_failure(job, queue, *args, **kwargs)
        if stopped:
            finalize_abandoned_run(get_context(), job.id, "cancelled", "cancelled on request")
        else:
            finalize_abandoned_run(get_context(), job.id, "interrupted", "the work horse died before the run ended")

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance, plus marking runs whose executing process died `interrupted`, and
        restarting health monitoring that stalled (on workers of the `monitor` queue).
        """
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        ctx = get_context()
        sweep_interrupted(ctx)
        if ctx.keys.queue("monitor") in self.queue_names():
            start_monitoring(ctx)


def _handover(job: Job, execution: Execution | None, queue: Queue, encoder: Any) -> bytes | None:
    """The job and its execution as this process holds them (as Redis holds them: the hash the job
    was read from, the execution's own), for the work horse standing by; None when there is nothing
    to hand over (the horse is forked then).
    """
    job_hash = getattr(job, "read_from", None)
    if execution is None or not job_hash:
        return None
    execution_hash = {name.encode(): encoder.encode(value) for name, value in execution.serialize().items()}
    return pickle.dumps((job.id, job_hash, execution.id, execution_hash, queue.name))


def _taken_over(handed: bytes, job_class: type[Job], connection: Redis, serializer: Any) -> tuple[Job, Execution, str]:
    """`_handover`'s job and execution again, on this process's connection."""
    job_id, job_hash, execution_id, execution_hash, queue_name = pickle.loads(handed)  # noqa: S301 - our parent's
    job = job_class(job_id, connection=connection, serializer=serializer)
    job.restore(job_hash)
    execution = Execution(execution_id, job_id, connection=connection)
    execution.restore(execution_hash)
    execution._job = job  # as RQ's spawned horses have it
    return job, execution, queue_name


def start_monitoring(ctx: Context) -> None:
    """Make sure every health source of every runbook is being polled and the user groups' members
    are kept fresh (a broken runbook is logged).
    """
    try:
        books = catalog(ctx)
    except RunbookError as error:
        logger.error("runbook unreadable; health monitoring waits for it: %s", error.user_message)
        return
    for book in books:
        ensure_monitors(ctx, book)
    ensure_group_refresh(ctx, books)
    ensure_rehearsals(ctx, books)


def preload_jobs() -> None:
    """Import what RQ imports in every work horse to find a job's function (`jobs.tasks`, and with it
    a rollback's runner, executor, notifier and escalation) here, once, before the horses fork from
    this process: a rollback's horse starts with its code loaded and shares those pages.
    """
    for module in sorted({name.rpartition(".")[0] for name in all_tasks().values()}):
        importlib.import_module(module)


def run_worker(burst: bool = False, queue_names: Sequence[str] = QUEUE_NAMES) -> bool:
    """Work `queue_names` (all of rollbot's queues by default, rollbacks first) with the scheduler on."""
    ctx = get_context()
    for run_id in sweep_interrupted(ctx):
        logger.warning("run %s was interrupted: its process is gone", run_id)
    if "monitor" in queue_names:
        start_monitoring(ctx)
    worker_name = f"{ctx.keys.namespace}-{socket.gethostname()}-{os.getpid()}"
    worker = RollbotWorker(
        [get_queue(queue) for queue in queue_names],
        name=worker_name,
        connection=ctx.redis,
        maintenance_interval=MAINTENANCE_INTERVAL_SECONDS,
    )
    preload_jobs()
    get_slack_client()  # built once here (its TLS trust loaded), not again in every work horse
    tempfile.gettempdir()  # found once here (Python writes a probe file), not again by every run's output file
    gc.collect()  # what is imported so far stays on pages the scheduler and work horses share …
    gc.freeze()  # … (the collector no longer writes to those objects)
    return bool(worker.work(burst=burst, with_scheduler=True, logging_level=ctx.settings.log_level.upper()))
