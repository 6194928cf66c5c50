"""Fixtures for engine tests: a recording sink and a settings factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import PY, Recorder

from phoenix_engine.core.settings import Settings, resolve


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a project in tmp_path; keyword arguments are PHOENIX_* values."""

    def make(script: str | None = None, **env: str) -> Settings:
        base = {
            "PHOENIX_COOLDOWN_SECONDS": "0",
            "PHOENIX_KILL_GRACE_SEC": "0.5",
            "PHOENIX_PATCH_MODE": "restart-only",
            "PHOENIX_HEARTBEAT_MIN": "0",
        }
        if script is not None:
            (tmp_path / "train.py").write_text(script)
            base["PHOENIX_TRAIN_CMD"] = f"{PY} train.py"
        base.update({f"PHOENIX_{k.upper()}": v for k, v in env.items()})
        return resolve(project_dir=tmp_path, env=base)

    return make
