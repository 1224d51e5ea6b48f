"""The fast unit tier: pure functions and Block Kit builders, no Redis, processes or network.

`pytest tests/unit` (or `pytest -m unit`) runs it alone in a few seconds.
"""
