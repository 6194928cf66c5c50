"""Helpers for driving the installed ``phoenix`` command as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PHOENIX = str(Path(sys.executable).with_name("phoenix"))
if not Path(PHOENIX).exists():  # pragma: no cover - only outside the venv
    PHOENIX = shutil.which("phoenix") or "phoenix"


def user_env(**extra: str) -> dict[str, str]:
    """The caller's environment without PHOENIX_* (tests set their own), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    env.update(PHOENIX_COOLDOWN_SECONDS="0", PHOENIX_KILL_GRACE_SEC="1", NO_COLOR="1")
    env.update(extra)
    return env


def phoenix(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PHOENIX, *args],
        cwd=cwd,
        env=env or user_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
