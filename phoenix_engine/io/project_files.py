"""The project on disk, as the pure path and patch checks ask about it.

:mod:`phoenix_engine.core.policy` decides whether a patch may write a path from facts a
:class:`~phoenix_engine.core.refused.Resolver` gives (where symlinks lead, which directories
are Python environments); :mod:`phoenix_engine.core.proposal` and
:func:`phoenix_engine.core.prompt.select_files` also need to know whether a file is there and
what it holds. :class:`ProjectResolver` is the one that asks the disk (the table tests pass
fakes); it decides nothing and writes nothing. Its calls block: the engine makes them in a
worker thread.
"""

from __future__ import annotations

__all__ = ["ProjectResolver"]

import os
from pathlib import Path

from phoenix_engine.core.refused import ENV_MARKERS


class ProjectResolver:
    """The real project on disk; Phoenix's own packages count as an environment.

    ``real``, ``relative`` and ``is_env_dir`` answer the policy's
    :class:`~phoenix_engine.core.refused.Resolver` questions; ``lexists``, ``is_file``,
    ``stat`` and ``read_bytes`` look at ``project_dir / relpath`` as given (they raise what
    the OS raises: the caller says what that means)."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self.root = project_dir.resolve()
        here = Path(__file__).resolve().parents[1]  # phoenix_engine/
        self._ours = (here, here.parent / "phoenix_tui")

    def real(self, relpath: str) -> str | None:
        return self.relative(str(self.root / relpath))

    def relative(self, path: str) -> str | None:
        target = Path(path).resolve()  # OSError/RuntimeError: a loop, the caller's to handle
        if not target.is_relative_to(self.root) or target == self.root:
            return None
        return target.relative_to(self.root).as_posix()

    def is_env_dir(self, relpath: str) -> bool:
        path = self.root / relpath
        if any(os.path.lexists(path / marker) for marker in ENV_MARKERS):
            return True
        try:  # an editable install of Phoenix inside the project
            return path.resolve() in self._ours
        except (OSError, RuntimeError):
            return False

    def lexists(self, relpath: str) -> bool:
        """Whether anything (a dangling symlink too) is at ``relpath``."""
        return os.path.lexists(self.project_dir / relpath)

    def is_file(self, relpath: str) -> bool:
        return (self.project_dir / relpath).is_file()

    def stat(self, relpath: str) -> os.stat_result:
        return (self.project_dir / relpath).stat()

    def read_bytes(self, relpath: str) -> bytes:
        return (self.project_dir / relpath).read_bytes()
