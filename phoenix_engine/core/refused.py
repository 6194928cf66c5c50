"""The one table of what no patch may ever touch, whatever ``PHOENIX_ALLOWLIST`` says.

A model's patch must not reach Phoenix, the environment the project runs in, or the machinery
that judges the patch (the test runner, its configuration, the tests). Each row names a path
component and why it is off limits; a path is refused when any of its directories matches a
``dir`` row, or its file name matches a ``file`` row. Names are compared ignoring case (on
macOS ``Tests/`` is ``tests/``). Two facts need the filesystem and are passed in by the caller:
whether a directory holds ``pyvenv.cfg`` or ``conda-meta`` (a virtualenv or conda env under any
name), and whether the resolved target lies inside Phoenix's own installed packages.

================  ===========================================================================
dir  ``.*``        hidden directories: ``.git``, ``.venv``, ``.phoenix_cli``, ``.tox``, ...
dir  tests, test   the project's tests
dir  site-packages, venv, __pycache__, node_modules, build, dist, __pypackages__
dir  pytest, _pytest, pluggy, unittest   packages that would shadow the test runner
file ``.*``        hidden files: ``.pytest.ini``, ``.coveragerc``, ``.env``, ...
file test_*.py, *_test.py, tests.py, test.py, conftest.py
file pytest.py, _pytest.py, pluggy.py, py.py, unittest.py   modules shadowing the test runner
file sitecustomize.py, usercustomize.py, *.pth   code Python runs at start-up
file phoenix.toml, pytest.ini, tox.ini, noxfile.py, setup.py, setup.cfg, pyproject.toml
================  ===========================================================================
"""

from __future__ import annotations

__all__ = [
    "ENV_MARKERS",
    "REFUSED_DIRS",
    "REFUSED_FILES",
    "Resolver",
    "refused_why",
]

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Protocol

_HIDDEN = "a hidden directory (Phoenix's state, git, virtualenvs, tool caches live there)"
_RUNNER = "it would shadow the test runner"
_ENV = "part of the Python environment, not of the project"

REFUSED_DIRS: tuple[tuple[str, str], ...] = (
    (".*", _HIDDEN),
    ("tests", "the project's tests"),
    ("test", "the project's tests"),
    ("site-packages", _ENV),
    ("venv", _ENV),
    ("__pypackages__", _ENV),
    ("__pycache__", "compiled bytecode"),
    ("node_modules", _ENV),
    ("build", "build output"),
    ("dist", "build output"),
    ("pytest", _RUNNER),
    ("_pytest", _RUNNER),
    ("pluggy", _RUNNER),
    ("unittest", _RUNNER),
)

_TESTS = "a test file; tests must not be edited to make a run pass"
_CONFIG = "configuration of Phoenix or of the test runner"
_STARTUP = "code Python runs at start-up"

REFUSED_FILES: tuple[tuple[str, str], ...] = (
    (".*", "a hidden file (tool configuration, secrets)"),
    ("test_*.py", _TESTS),
    ("*_test.py", _TESTS),
    ("tests.py", _TESTS),
    ("test.py", _TESTS),
    ("conftest.py", _TESTS),
    ("pytest.py", _RUNNER),
    ("_pytest.py", _RUNNER),
    ("pluggy.py", _RUNNER),
    ("py.py", _RUNNER),
    ("unittest.py", _RUNNER),
    ("sitecustomize.py", _STARTUP),
    ("usercustomize.py", _STARTUP),
    ("*.pth", _STARTUP),
    ("phoenix.toml", _CONFIG),
    ("pytest.ini", _CONFIG),
    ("tox.ini", _CONFIG),
    ("noxfile.py", _CONFIG),
    ("setup.py", _CONFIG),
    ("setup.cfg", _CONFIG),
    ("pyproject.toml", _CONFIG),
)

# A directory holding one of these is an environment, whatever its name.
ENV_MARKERS = ("pyvenv.cfg", "conda-meta")


def _match(name: str, table: tuple[tuple[str, str], ...]) -> str:
    low = name.lower()
    for pattern, why in table:
        if fnmatchcase(low, pattern):
            return why
    return ""


def refused_why(relpath: str, is_env_dir: Callable[[str], bool] = lambda _d: False) -> str:
    """Why no patch may touch ``relpath`` (normalised, relative, POSIX), or ``""``.

    ``is_env_dir(dir_relpath)`` says whether that project directory is a Python environment.
    """
    parts = relpath.split("/")
    for i, part in enumerate(parts[:-1]):
        why = _match(part, REFUSED_DIRS)
        if why:
            return f"{relpath!r} is inside {part.lower()}/, which patches may never touch ({why})"
        if is_env_dir("/".join(parts[: i + 1])):
            return f"{relpath!r} is inside {part}/, a Python environment or Phoenix's own code"
    name = parts[-1]
    why = _match(name, REFUSED_FILES) or _match(name, REFUSED_DIRS)
    if why:
        return f"{relpath!r} is a protected file ({name}): {why}"
    return ""


class Resolver(Protocol):
    """The filesystem facts a verdict needs; relative paths are normalised POSIX ones."""

    def real(self, relpath: str) -> str | None:
        """``relpath`` with symlinks resolved, relative to the project; None: it leads out."""
        ...

    def is_env_dir(self, relpath: str) -> bool:
        """Whether that directory is a Python environment (holds pyvenv.cfg or conda-meta)."""
        ...

    def relative(self, path: str) -> str | None:
        """An absolute ``path`` (symlinks resolved) relative to the project; None: outside."""
        ...
