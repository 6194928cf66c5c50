"""Did a shadow run change anything real? A cheap fingerprint taken before, compared after.

Fingerprinted: every file and directory of the real project (in ``.phoenix_cli/`` only what
a patch's fate depends on: the data manifest and the backups; Phoenix's own logs change while
it runs), the data directory wherever it lives, and Phoenix's installed packages. Each entry
is its ``lstat``: size, mtime, ctime, inode, mode. No process can set ctime back, so any write,
chmod, rename, replacement or deletion shows, without reading a byte. New bytecode in a
``__pycache__`` is not a change (Phoenix's own late imports write it into its venv); a
rewritten ``.pyc`` is. The walk is bounded
(``limit`` entries); a bigger tree is checked that far and says so.
"""

from __future__ import annotations

__all__ = ["Fingerprint", "changed", "phoenix_roots", "take"]

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_Key = tuple[int, int, int, int, int]
_STATE_KEEP = ("data_manifest.json", "backups")
LIMIT = 300_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Fingerprint:
    entries: dict[str, _Key]
    truncated: bool = False  # more than ``limit`` entries: only the first were recorded


def phoenix_roots() -> tuple[Path, ...]:
    """Phoenix's own installed code: a test must not rewrite it either."""
    here = Path(__file__).resolve().parents[1]  # phoenix_engine/
    return tuple(p for p in (here, here.parent / "phoenix_tui") if p.is_dir())


def _key(st: os.stat_result) -> _Key:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)


def take(
    roots: Sequence[Path], *, state_dir: Path | None = None, limit: int = LIMIT
) -> Fingerprint:
    """The fingerprint of ``roots`` (absolute), symlinks not followed below a root."""
    entries: dict[str, _Key] = {}
    state = str(state_dir) if state_dir is not None else None
    stack: list[str] = []
    for root in roots:
        try:
            real = str(root.resolve())
            entries[real] = _key(os.lstat(real))
        except (OSError, RuntimeError):
            continue
        stack.append(real)
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for entry in it:
                    if top == state and entry.name not in _STATE_KEEP:
                        continue
                    if len(entries) >= limit:
                        return Fingerprint(entries=entries, truncated=True)
                    if entry.path == state:  # its own mtime moves with Phoenix's logs
                        stack.append(entry.path)
                        continue
                    try:
                        entries[entry.path] = _key(entry.stat(follow_symlinks=False))
                    except OSError:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return Fingerprint(entries=entries)


def _new_bytecode(path: str, before: Fingerprint) -> bool:
    """Python caching a module Phoenix imported late (into its venv): not the test's doing."""
    parent, name = os.path.split(path)
    if name == "__pycache__":
        return True  # its mtime moves as files are added; a changed .pyc itself still counts
    return os.path.basename(parent) == "__pycache__" and path not in before.entries


def changed(before: Fingerprint, after: Fingerprint, *, relative_to: Path) -> tuple[str, ...]:
    """Paths that appeared, vanished or changed (relative to the project where inside it)."""
    keys = before.entries.keys() | after.entries.keys()
    if before.truncated or after.truncated:
        keys = before.entries.keys() & after.entries.keys()  # only what both walks reached
    found = sorted(
        k
        for k in keys
        if before.entries.get(k) != after.entries.get(k) and not _new_bytecode(k, before)
    )
    base = str(relative_to)
    return tuple(
        os.path.relpath(path, base) if path == base or path.startswith(base + os.sep) else path
        for path in found
    )
