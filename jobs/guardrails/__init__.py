"""Who may do what: roles (users and Slack user groups, per action, phase and level), and the
two-person rule's approval requests. May import `jobs.slack`, `jobs.runs` and below; independent of
`jobs.pagerduty`.
"""
