"""Alerts: rules for messages in the alert channel (`rules`), their intake (`intake`), the
health monitor (`monitor`) and what is done about an alert (`response`: cards, pages, automated
rollbacks). May import `jobs.pagerduty`, `jobs.guardrails` and below.
"""
