"""Runbook-as-code: the model, the loader and placeholder handling."""

from jobs.runbook.loader import load_runbook
from jobs.runbook.model import Level, Phase, Runbook

__all__ = ["Level", "Phase", "Runbook", "load_runbook"]
