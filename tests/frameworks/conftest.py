"""Live runs of the real trainer libraries (``make test-frameworks`` builds their venv).

Every test here carries the ``frameworks`` marker, which ``make test`` leaves out; without
torch, transformers, lightning and tqdm installed they skip with the reason.
"""

from __future__ import annotations

import importlib.util

import pytest

_NEEDED = ("torch", "transformers", "lightning", "tqdm", "rich")
_MISSING = [name for name in _NEEDED if importlib.util.find_spec(name) is None]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/frameworks" not in str(item.fspath).replace("\\", "/"):
            continue
        if _MISSING:
            reason = f"needs {', '.join(_MISSING)}: run `make test-frameworks`"
            item.add_marker(pytest.mark.skip(reason=reason))
