"""phoenix doctor judges the allowlist exactly as the patch policy does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phoenix_engine.core.settings import resolve
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


@pytest.mark.parametrize(("mode", "warning"), [("auto", True), ("require", False), ("off", True)])
def test_sandbox_check_says_why_and_what_to_do(tmp_path: Path, mode: str, warning: bool) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    (fake / "bwrap").chmod(0o755)
    settings = resolve(
        project_dir=tmp_path, env={"PHOENIX_SANDBOX": mode, "PHOENIX_PATCH_MODE": "restart-only"}
    )
    (check,) = [c for c in run_checks(settings, {"PATH": str(fake)}) if c.name == "sandbox"]
    assert not check.ok and check.warning is warning
    if mode != "off":
        assert "No permissions" in check.detail and "namespaces" in check.detail


def test_sandbox_check_passes_where_bwrap_works(tmp_path: Path) -> None:
    from phoenix_engine.io.sandbox import probe

    found = probe(os.environ)
    if not found.usable:
        pytest.skip(f"bubblewrap cannot run here: {found.detail}")
    settings = resolve(project_dir=tmp_path, env={"PHOENIX_PATCH_MODE": "restart-only"})
    (check,) = [c for c in run_checks(settings, dict(os.environ)) if c.name == "sandbox"]
    assert check.ok and "works" in check.detail
