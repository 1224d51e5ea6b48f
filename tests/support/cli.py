"""Running the `rollbot` command as a person would, in its own process."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import ROLLBOT


def rollbot(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`rollbot args…` with the test's environment (plus `extra`), stdin not a terminal."""
    return subprocess.run(
        [ROLLBOT, *args], env={**os.environ, **env, **extra}, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def start_rollbot(env: dict[str, str], *args: str, **extra: str) -> subprocess.Popen[str]:
    """`rollbot args…` in the background (read its output with `communicate`)."""
    return subprocess.Popen(
        [ROLLBOT, *args], env={**os.environ, **env, **extra}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
