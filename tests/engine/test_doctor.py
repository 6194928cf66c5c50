"""phoenix doctor judges the allowlist exactly as the patch policy does."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_engine.config import resolve
from phoenix_engine.doctor import run_checks


@pytest.mark.parametrize(
    ("allowlist", "ok"),
    [("src/**/*.py", True), ("*.py", True), ("configs/", False), ("*.yaml", False)],
)
def test_allowlist_check_uses_the_policy_globs(tmp_path: Path, allowlist: str, ok: bool) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.py").write_text("x = 1\n")  # directly in src/: '**/' matches none
    settings = resolve(
        project_dir=tmp_path,
        env={"PHOENIX_ALLOWLIST": allowlist, "PHOENIX_PATCH_MODE": "restart-only"},
    )
    (check,) = [c for c in run_checks(settings, {"PATH": ""}) if c.name == "allowlist"]
    assert check.ok is ok
