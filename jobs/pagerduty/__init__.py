"""PagerDuty: the Events API outbox (`events`), webhooks and acknowledgments from Slack
(`inbound`), and the escalation policy of runs (`escalation`: pages, change events, stakeholder
reminders). May import `jobs.slack`, `jobs.runs` and below; independent of `jobs.guardrails`.
"""
