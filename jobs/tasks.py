"""RQ job functions: plain, importable, JSON-safe arguments (a run id); connections from the factory."""

from __future__ import annotations

from jobs.factory import get_context
from jobs.runner import execute_queued_run


def rollback_job(run_id: str) -> str:
    """Execute a queued rollback run; returns its final status."""
    return execute_queued_run(get_context(), run_id).status


def preflight_job(run_id: str) -> str:
    """Execute a queued preflight run (checkpoint + checks); returns its final status."""
    return execute_queued_run(get_context(), run_id).status


def validation_job(run_id: str) -> str:
    """Execute a queued validation run; returns its final status."""
    return execute_queued_run(get_context(), run_id).status
