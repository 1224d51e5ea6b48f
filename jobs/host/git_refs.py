"""HEAD read from the repository's files, without starting `git`: a run reads it before its first
step and after its last, and a process start costs milliseconds where reading two small files
costs microseconds. Anything unusual (a worktree's `.git` file, a ref missing from both places,
a symbolic ref to a symbolic ref) answers None, and the caller asks `git rev-parse` instead.
"""

from __future__ import annotations

import re
from pathlib import Path

_OBJECT_ID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def read_head(repo: Path) -> str | None:
    """The commit HEAD points at, read from `repo/.git`; None when it cannot be told this way."""
    git_dir = repo / ".git"
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if _OBJECT_ID.match(head):
            return head  # detached
        if not head.startswith("ref: refs/"):
            return None
        ref = head.removeprefix("ref: ").strip()
        loose = git_dir / ref
        if loose.is_file():
            value = loose.read_text().strip()
            return value if _OBJECT_ID.match(value) else None
        return _packed(git_dir / "packed-refs", ref)
    except (OSError, UnicodeDecodeError):
        return None


def _packed(path: Path, ref: str) -> str | None:
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        if line.startswith(("#", "^")):
            continue
        value, _, name = line.partition(" ")
        if name.strip() == ref and _OBJECT_ID.match(value):
            return value
    return None
