"""What rollbot remembers, and the stores that keep it in Redis: run records, checkpoints,
incidents, alerts, approval requests, the audit trail, the local journal (runs made while Redis
did not answer), locks and leases. Models and storage only, no flows. May import `jobs.core`
and `jobs.runbook`.
"""
