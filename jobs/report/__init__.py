"""The incident report of a rollback: gathered from run records, incidents, alerts and the audit
trail, rendered as Markdown, posted in the run's thread. Above the domains it reads; only
`jobs.tasks` (and the CLI) import it.
"""

from jobs.report.chart import build_chart
from jobs.report.gather import MANUAL_POST_ROLLBACK_ACTIONS, ReportData, gather
from jobs.report.post import post
from jobs.report.render import build_report, render
from jobs.report.text import duration_text

__all__ = [
    "MANUAL_POST_ROLLBACK_ACTIONS",
    "ReportData",
    "build_chart",
    "build_report",
    "duration_text",
    "gather",
    "post",
    "render",
]
