"""Fixtures for e2e tests; the helpers live in cli_support (a unique module name)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text("print('step 1 loss 0.5')\nprint('done')\n")
    return tmp_path
