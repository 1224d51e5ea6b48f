"""The manual's communication clocks: business e-mail within `stakeholders_within`, the status page
after `status_page_after`, the executive escalation after `executive_after`, and Phase 1 blockers
on the tracking issue (docs/pagerduty.md#communication-clocks).
"""
