"""Runbook-as-code: the model, the loader, placeholders and the catalog (one runbook per service).
May import `jobs.core` only.
"""

from jobs.runbook.loader import load_runbook
from jobs.runbook.model import Level, Phase, Runbook

__all__ = ["Level", "Phase", "Runbook", "load_runbook"]
