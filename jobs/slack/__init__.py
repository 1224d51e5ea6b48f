"""Slack delivery: Block Kit builders (`blocks`), cards posted once and updated in place
(`cards`), the live run message (`notifier`), the alert channel's ID (`channel`) and redelivery
after long outages (`deliveries`). May import `jobs.runs` and everything below it, never the
domains above (alerts, PagerDuty, guardrails), which call it.
"""
