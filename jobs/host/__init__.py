"""What happens on this host: step processes (process groups, kills, output files), git (the
built-in checkpoint and reset steps, checkpoints recorded in the repository), the host-wide lock,
HTTP health checks. May import `jobs.records`, `jobs.runbook`, `jobs.core`.
"""
