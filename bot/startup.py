"""What a process does before its work: does Redis answer, and write back the runs this host made
while it did not. Light on purpose: `rollbot web` imports it in the gunicorn master, which forks.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from jobs.factory import get_context, redis_client
from jobs.records import journal
from jobs.runs.lifecycle import follow_up


def write_back_journal(who: str) -> list[str]:
    """Runs this host made while Redis did not answer, written back now that it does."""
    ctx = get_context()
    return journal.replay_quietly(
        ctx.redis, ctx.keys, ctx.settings.rollbot_state_dir, who, after=lambda run_id: follow_up(ctx, run_id)
    )


def redis_answers() -> bool:
    """Whether Redis answers within about a second (the break-glass commands go on without it)."""
    try:
        redis_client(fail_fast=True).ping()
    except RedisError:
        return False
    return True
