"""The bundled demo: a small pure-Python training run with two genuine failures.

``phoenix demo`` copies ``project/`` into a temporary directory and supervises it with the
built-in offline doctor, so it needs no key and no network: first a typo that Python's own
"Did you mean" names, then an out-of-memory on a simulated GPU that halving the batch fixes.
"""

from __future__ import annotations

__all__ = ["DEMO_DIR", "prepare_demo"]

import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

DEMO_DIR = Path(__file__).with_name("project")


def prepare_demo(
    env: Mapping[str, str], *, parent: Path | None = None
) -> tuple[Path, dict[str, str]]:
    """Copy the demo project somewhere fresh; return it and the environment to run it with."""
    target = Path(tempfile.mkdtemp(prefix="phoenix-demo-", dir=parent))
    shutil.copytree(
        DEMO_DIR, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    # The user's own PHOENIX_* settings are for their project, not this one.
    demo_env = {k: v for k, v in env.items() if not k.startswith("PHOENIX_")}
    demo_env.update(
        PHOENIX_TRAIN_CMD=f"{shlex.quote(sys.executable)} train.py",
        PHOENIX_PRIMARY="builtin",
        PHOENIX_COOLDOWN_SECONDS="1",
        PHOENIX_HEARTBEAT_MIN="1",
        PHOENIX_KILL_GRACE_SEC="3",
        PHOENIX_TEST_CMD=f"{shlex.quote(sys.executable)} check_model.py",
    )
    return target, demo_env
