"""The incident report of a rollback: gathered from run records, incidents, alerts and the audit
trail, rendered as Markdown, posted in the run's thread. Above the domains it reads; only
`jobs.tasks` (and the CLI) import it.
"""
