"""Every RQ task name rollbot enqueues resolves to a function of `jobs.tasks`, and every job
function there is registered (RQ stores these dotted names in Redis)."""

from __future__ import annotations

import importlib
import inspect

from jobs import tasks
from jobs.core.task_names import all_tasks


def test_every_registered_task_resolves_to_a_job_function() -> None:
    for constant, dotted in all_tasks().items():
        module, _, name = dotted.rpartition(".")
        function = getattr(importlib.import_module(module), name, None)
        assert callable(function), f"Task.{constant} = {dotted} names no function"


def test_every_job_function_is_registered() -> None:
    registered = {dotted.rpartition(".")[2] for dotted in all_tasks().values()}
    helpers = {"health_source_of"}  # a plain helper of the jobs, not a job
    functions = {
        name
        for name, value in vars(tasks).items()
        if inspect.isfunction(value) and value.__module__ == tasks.__name__ and not name.startswith("_")
    }
    assert functions - helpers == registered
