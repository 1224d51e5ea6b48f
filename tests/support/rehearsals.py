"""Rehearsal helpers: the real checkout byte for byte, marker steps, a ready repository, the clones."""

from __future__ import annotations

import sys
from pathlib import Path

from jobs.context import Context
from tests.conftest import commit, git, write_runbook
from tests.support.runs import preflight


def snapshot(repo: Path) -> dict[str, object]:
    """HEAD, every ref (branches, tags, rollbot's) and every file of the working tree, byte for byte."""
    files = {
        str(path.relative_to(repo)): path.read_bytes()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(repo).parts
    }
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "symbolic": (repo / ".git" / "HEAD").read_bytes(),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "files": files,
    }


def marker_step(name: str, marks: Path, rehearse: str | None) -> str:
    """A step appending a line to `marks/<name>`; `rehearse` is its `rehearse:` value (None: unmarked)."""
    code = f"open({str(marks / name)!r}, 'a').write('ran' + chr(10))"
    line = f'- name: {name}\n  run: [{sys.executable}, -c, "{code}"]\n'
    return line + (f"  rehearse: {rehearse}\n" if rehearse else "")


def ready(ctx: Context, env: dict[str, str], repo: Path, steps: str) -> tuple[str, str]:
    """Runbook, checkpoint, two bad commits on main and a dirty working tree; (good, bad) commits."""
    path = write_runbook(Path(env["RUNBOOK"]), repo, steps=steps)
    good = git(repo, "rev-parse", "HEAD")
    preflight(ctx, path)
    git(repo, "checkout", "-q", "main")
    commit(repo, "bad 1")
    bad = commit(repo, "bad 2")
    (repo / "notes.txt").write_text("uncommitted work\n")  # untracked
    (repo / "app.txt").write_text("edited, not committed\n")
    return good, bad


def scratch_root(env: dict[str, str]) -> Path:
    return Path(env["ROLLBOT_STATE_DIR"]) / "rehearsals" / env["ROLLBOT_NAMESPACE"]


def no_scratch_left(env: dict[str, str]) -> bool:
    root = scratch_root(env)
    return not root.exists() or not any(root.iterdir())
