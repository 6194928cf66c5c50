"""Signs of life that are not output: checkpoint files growing while the training is silent.

A Trainer writing a multi-gigabyte checkpoint can be silent for minutes; its files growing
show it is alive. :class:`CheckpointPulse` fingerprints what ``PHOENIX_CHECKPOINT_GLOB``
matches (or, unset, the Trainer's ``checkpoint-*`` / ``tmp-checkpoint-*`` folders up to two
levels down): file count, total size and newest modification time, bounded to a few thousand
files. A changed fingerprint is life. I/O only (stat calls); the engine runs it in a thread,
and only after some silence.
"""

from __future__ import annotations

__all__ = ["CheckpointPulse"]

import os
from pathlib import Path

_DEFAULT = ("*checkpoint-*", "*/*checkpoint-*", "*/*/*checkpoint-*")
_MAX_FILES = 5000

Fingerprint = tuple[int, int, int]


class CheckpointPulse:
    def __init__(self, project_dir: Path, glob: str = "") -> None:
        self.project_dir = project_dir
        self.patterns = (glob,) if glob else _DEFAULT
        self._last: Fingerprint | None = None

    def changed(self) -> bool:
        """Whether the checkpoints changed since the last call (the first call only looks)."""
        now = self.fingerprint()
        moved = self._last is not None and now != self._last
        self._last = now
        return moved

    def fingerprint(self) -> Fingerprint:
        count = size = newest = 0
        for pattern in self.patterns:
            try:
                matches = list(self.project_dir.glob(pattern))
            except (OSError, ValueError):
                continue
            for path in matches:
                for st in _stats(path):
                    count, size = count + 1, size + st.st_size
                    newest = max(newest, st.st_mtime_ns)
                    if count >= _MAX_FILES:
                        return count, size, newest
        return count, size, newest


def _stats(path: Path) -> list[os.stat_result]:
    """The path's own stat, or those of the files in it (two levels)."""
    try:
        if not path.is_dir():
            return [path.stat()]
        out = []
        for entry in os.scandir(path):
            if entry.is_file(follow_symlinks=False):
                out.append(entry.stat(follow_symlinks=False))
            elif entry.is_dir(follow_symlinks=False):
                out += [
                    e.stat() for e in os.scandir(entry.path) if e.is_file(follow_symlinks=False)
                ]
        return out
    except OSError:
        return []
