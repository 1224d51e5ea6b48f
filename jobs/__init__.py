"""Everything that runs on workers (and in the break-glass CLI). Never imports `bot` or slack_bolt.

Layers, top to bottom (enforced by `lint-imports`, see docs/architecture.md): `tasks`/`worker`
(RQ entry points) → `report` → `alerts` → `pagerduty` | `guardrails` → `slack` → `runs` → `chains`
→ `factory` → `context` → `host` → `records` → `runbook` → `core`.
"""
