"""Data integrity: the data directory against the manifest recorded on the first run.

Blocking (the engine runs :func:`verify` in a thread). A file whose size and mtime match the
manifest is trusted without reading it, so an unchanged tree costs one ``stat`` per file;
everything else is hashed (SHA-256, 1 MiB chunks) with progress. Symlinked files and
directories are followed (datasets often live on another disk), each directory once.
The manifest is JSON written atomically: ``{"version": 1, "files": {path: {size, mtime_ns,
sha256}}}`` with posix paths relative to the data directory.
"""

from __future__ import annotations

__all__ = ["DataReport", "VerifyCancelled", "verify"]

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phoenix_engine.events import DataChanged
from phoenix_engine.io.atomic import write_atomic

_CHUNK = 1024 * 1024
_PROGRESS_EVERY = 64 * _CHUNK
Entry = dict[str, Any]  # {"size": int, "mtime_ns": int, "sha256": str}


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReport:
    """What changed since the manifest; ``problems`` is what strict mode refuses to start on.

    ``changed``: same size with other bytes, or grown; ``truncated``: shrunk; ``added``
    (new files) is news, not a problem. ``manifest_error`` says why an unreadable manifest was
    recorded afresh (then ``first_run`` is True).
    """

    first_run: bool
    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()
    hashed_bytes: int = 0
    files: int = 0
    manifest_error: str = ""

    @property
    def problems(self) -> bool:
        return bool(self.missing or self.changed or self.truncated or self.unreadable)

    def event(self) -> DataChanged | None:
        """The ``data_changed`` event, or None when there is nothing to report."""
        if not (self.problems or self.added):
            return None
        return DataChanged(
            missing=self.missing,
            changed=self.changed + self.unreadable,
            truncated=self.truncated,
            added=self.added,
        )


def verify(
    data_dir: Path,
    manifest_path: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    accept: bool = False,
    cancelled: Callable[[], bool] = lambda: False,
) -> DataReport:
    """Compare ``data_dir`` with the manifest and record the tree.

    The manifest is rewritten (only when its content would change) on the first run, when
    nothing is wrong (new files and refreshed mtimes), or when ``accept`` takes the current
    tree as the new reference. With problems and no ``accept`` it is left as it was, so the
    next start reports them again instead of forgetting them.
    ``progress(hashed_bytes, bytes_to_hash)`` is called while hashing; ``cancelled()`` is
    asked between chunks, and when it says yes :class:`VerifyCancelled` is raised at once and
    the manifest is left as it was (a stop during the hash of a large data set).
    """
    old, error = _load(manifest_path)
    first_run = old is None
    recorded: dict[str, Entry] = old or {}
    current = dict(_walk(data_dir, skip=manifest_path.parent))
    stale = {
        rel: st
        for rel, st in current.items()
        if rel not in recorded
        or (recorded[rel].get("size"), recorded[rel].get("mtime_ns"))
        != (st.st_size, st.st_mtime_ns)
    }
    hasher = _Hasher(sum(st.st_size for st in stale.values()), progress, cancelled)
    new: dict[str, Entry] = {}
    changed, truncated, unreadable = [], [], []
    for rel, st in current.items():
        if rel not in stale:
            new[rel] = recorded[rel]
            continue
        digest = hasher.hash(data_dir / rel)
        if digest is None:
            unreadable.append(rel)
            continue
        new[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        before = recorded.get(rel)
        if before is None or first_run:
            continue
        if st.st_size < before.get("size", 0):
            truncated.append(rel)
        elif st.st_size > before.get("size", 0) or digest != before.get("sha256"):
            changed.append(rel)
    hasher.finish()
    report = DataReport(
        first_run=first_run,
        missing=() if first_run else tuple(sorted(set(recorded) - set(current))),
        changed=tuple(sorted(changed)),
        truncated=tuple(sorted(truncated)),
        added=() if first_run else tuple(sorted(set(current) - set(recorded))),
        unreadable=tuple(sorted(unreadable)),
        hashed_bytes=hasher.done,
        files=len(current),
        manifest_error=error,
    )
    if (first_run or accept or not report.problems) and new != recorded:
        _save(manifest_path, new)
    return report


class VerifyCancelled(Exception):
    """The verification was cancelled (Phoenix is stopping); nothing was recorded."""


class _Hasher:
    def __init__(
        self,
        total: int,
        progress: Callable[[int, int], None] | None,
        cancelled: Callable[[], bool],
    ) -> None:
        self.total, self.progress, self.done = total, progress, 0
        self._reported, self._cancelled = 0, cancelled

    def hash(self, path: Path) -> str | None:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    if self._cancelled():
                        raise VerifyCancelled(str(path))
                    digest.update(chunk)
                    self.done += len(chunk)
                    if self.progress and self.done - self._reported >= _PROGRESS_EVERY:
                        self._reported = self.done
                        self.progress(self.done, self.total)
        except OSError:
            return None
        return digest.hexdigest()

    def finish(self) -> None:
        if self.progress and self.done:
            self.progress(self.done, max(self.total, self.done))


def _walk(root: Path, *, skip: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(posix path relative to root, stat) of every regular file, links followed once.

    ``skip`` (Phoenix's state directory) is left out should the data directory contain it.
    """
    seen: set[tuple[int, int]] = set()
    try:
        st = skip.stat()
        seen.add((st.st_dev, st.st_ino))
    except OSError:
        pass
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            st = directory.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:  # a missing data directory, a dangling link, no permission
            continue
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append((Path(entry.path), rel + "/"))
                elif entry.is_file(follow_symlinks=True):
                    yield rel, entry.stat(follow_symlinks=True)
            except OSError:
                continue


def _load(path: Path) -> tuple[dict[str, Entry] | None, str]:
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, ""
    except (OSError, ValueError) as exc:
        return None, f"{path.name} was unreadable ({exc}); recorded afresh"
    files = raw.get("files") if isinstance(raw, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        return None, f"{path.name} is not a Phoenix data manifest; recorded afresh"
    return files, ""


def _save(path: Path, files: dict[str, Entry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"version": 1, "files": dict(sorted(files.items()))}
    write_atomic(path, (json.dumps(body, separators=(",", ":")) + "\n").encode())
