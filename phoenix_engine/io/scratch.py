"""Phoenix's scratch folders in the temp directory, and removing those a killed one left.

Each folder's name carries the pid of the Phoenix that made it (``phoenix-shadow-<pid>-...``),
so the next Phoenix to start removes a folder whose maker is gone (killed -9: its ``finally``
never ran) and never one that another running Phoenix still uses. Only folders of this user.
"""

from __future__ import annotations

__all__ = ["KINDS", "prefix", "remove_stale"]

import os
import re
import shutil
import tempfile
from pathlib import Path

import psutil

KINDS = ("shadow", "gemini", "cmd")  # the shadow copy; the model commands' empty folders
_NAME = re.compile(r"^phoenix-(?:" + "|".join(KINDS) + r")-(\d+)-")


def prefix(kind: str) -> str:
    """The ``mkdtemp``/``TemporaryDirectory`` prefix for a scratch folder of ``kind``."""
    assert kind in KINDS, kind
    return f"phoenix-{kind}-{os.getpid()}-"


def remove_stale(root: Path | None = None) -> int:
    """Remove the scratch folders under ``root`` (the temp directory) whose Phoenix is gone."""
    where = Path(root or tempfile.gettempdir())
    removed = 0
    try:
        entries = list(os.scandir(where))
    except OSError:
        return 0
    for entry in entries:
        found = _NAME.match(entry.name)
        if found is None or psutil.pid_exists(int(found.group(1))):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed += not os.path.lexists(entry.path)
    return removed
