"""Backups on disk: the manifest (its one reader and writer), the records, listing, pruning.

Layout: ``<state_dir>/backups/<id>/manifest.json`` plus ``files/<relpath>``, the originals; a
directory whose name starts with a dot (``.tmp-<id>``) is one being written. Every reading of a
manifest goes through :func:`read_manifest` and :func:`list_backups` here (the console's diff
included), every original's place through :func:`original_copy`, every change of its
state through :func:`set_state` (an atomic rewrite). What a backup is for, creating, applying
and rolling back, is :mod:`phoenix_engine.io.backups`, which re-exports the public names.
"""

from __future__ import annotations

__all__ = [
    "MANIFEST",
    "ONE_WRITER",
    "BackupError",
    "BackupRecord",
    "BackupState",
    "Entry",
    "RollbackResult",
    "digest",
    "find_interrupted",
    "list_backups",
    "new_id",
    "new_manifest",
    "original_copy",
    "pick",
    "prune",
    "read_manifest",
    "serialised",
    "set_state",
    "sha",
    "to_record",
]

import dataclasses
import enum
import functools
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from phoenix_engine import events as ev
from phoenix_engine.errors import PhoenixError
from phoenix_engine.io.atomic import inside, write_atomic

MANIFEST = "manifest.json"
_P = ParamSpec("_P")
_R = TypeVar("_R")
ONE_WRITER = threading.RLock()  # the console rolls back in a thread while the engine applies


def serialised(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """One writer of project files and backups at a time, whichever thread it runs in."""

    def locked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with ONE_WRITER:
            return fn(*args, **kwargs)

    return functools.wraps(fn)(locked)


class BackupState(enum.StrEnum):
    PREPARED = "prepared"  # originals saved; project files may be partly replaced
    APPLIED = "applied"
    DRY_RUN = "dry_run"  # PHOENIX_DRY_RUN: backed up, nothing written
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"  # a write failed and every file written so far was restored
    UNREADABLE = "unreadable"  # the manifest is missing or corrupt; listed, never pruned


class BackupError(PhoenixError):
    """A backup could not be written, read or restored; the message says which and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupRecord:
    id: str
    path: Path
    created: float  # seconds since the epoch
    state: BackupState
    paths: tuple[str, ...] = ()
    provider: str = ""
    signature: str = ""
    diagnosis: str = ""
    proposal_id: str = ""
    kind: str = "patch"  # "patch", or "rollback" for the safety copy a rollback makes
    reason: str = ""  # why an UNREADABLE backup could not be read


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackResult:
    backup_id: str
    safety_backup_id: str
    paths: tuple[str, ...]

    def event(self) -> ev.RolledBack:
        """What the journal records of it (whoever rolled back emits it: Discord, console, CLI)."""
        return ev.RolledBack(
            backup_id=self.backup_id, paths=self.paths, safety_backup_id=self.safety_backup_id
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    path: str
    before: bytes | None  # None: the file does not exist
    after: bytes | None  # None: delete it
    mode: int | None


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha(data: bytes | None) -> str | None:
    return None if data is None else digest(data)


def new_id(root: Path, now: float, proposal_id: str) -> str:
    low = proposal_id.lower()
    tag = low[:6] if re.fullmatch(r"[0-9a-f]{6,}", low) else digest(low.encode())[:6]
    base = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + tag
    candidate, n = base, 2
    while (root / candidate).exists() or (root / f".tmp-{candidate}").exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


_TEXT = ("id", "provider", "signature", "diagnosis", "proposal_id", "kind")


def to_record(path: Path, data: dict[str, Any]) -> BackupRecord:
    paths = tuple(str(f["path"]) for f in data["files"])
    state, created = BackupState(data["state"]), float(data["created"])
    return BackupRecord(
        path=path, created=created, state=state, paths=paths, **{k: str(data[k]) for k in _TEXT}
    )


def original_copy(backup_dir: Path, relpath: str) -> Path:
    """Where a backup keeps the original of project file ``relpath`` (ValueError: unsafe)."""
    return inside(backup_dir / "files", relpath)


def read_manifest(path: Path) -> dict[str, Any]:
    data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ValueError("manifest is not an object with a file list")
    return data


def set_state(record: BackupRecord, state: BackupState) -> BackupRecord:
    data = read_manifest(record.path)
    data["state"], data["updated"] = state.value, time.time()
    write_atomic(record.path / MANIFEST, json.dumps(data, indent=2).encode())
    return dataclasses.replace(record, state=state)


def new_manifest(entries: Sequence[Entry], project_dir: Path, **fields: Any) -> dict[str, Any]:
    files = []
    for e in entries:
        target = inside(project_dir, e.path)
        mode = target.stat().st_mode if e.before is not None else None
        files.append(
            {
                "path": e.path,
                "existed": e.before is not None,
                "mode": mode,
                "sha256_before": sha(e.before),
                "sha256_after": sha(e.after),
            }
        )
    return {"version": 1, **fields, "state": BackupState.PREPARED.value, "files": files}


def list_backups(state_dir: Path) -> list[BackupRecord]:
    """Every backup, newest first; one whose manifest cannot be read is listed UNREADABLE."""
    records = []
    root = state_dir / "backups"
    entries = list(os.scandir(root)) if root.is_dir() else []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        try:
            records.append(to_record(path, read_manifest(path)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why, mtime = f"{type(exc).__name__}: {exc}", entry.stat(follow_symlinks=False).st_mtime
            unreadable = BackupState.UNREADABLE
            records.append(
                BackupRecord(id=entry.name, path=path, created=mtime, state=unreadable, reason=why)
            )
    return sorted(records, key=lambda r: (r.created, r.id), reverse=True)


def find_interrupted(state_dir: Path) -> list[BackupRecord]:
    """Backups left ``prepared``: phoenix died while applying them."""
    return [r for r in list_backups(state_dir) if r.state is BackupState.PREPARED]


@serialised
def prune(state_dir: Path, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest backups (never a prepared or unreadable one)."""
    root = state_dir / "backups"
    for leftover in root.glob(".tmp-*"):  # a kill during step 1: the project was not touched
        shutil.rmtree(leftover, ignore_errors=True)
    keep_states = {BackupState.PREPARED, BackupState.UNREADABLE}
    victims = [r for r in list_backups(state_dir)[max(keep, 1) :] if r.state not in keep_states]
    for record in victims:
        shutil.rmtree(record.path, ignore_errors=True)
    return [r.id for r in victims]


_REFUSED = {
    BackupState.DRY_RUN: "was a dry run: nothing was written",
    BackupState.ROLLED_BACK: "is already rolled back",
    BackupState.ABORTED: "was aborted and already undone",
}


def pick(state_dir: Path, backup_id: str | None) -> BackupRecord:
    """The backup ``backup_id`` (a unique prefix will do) names, or the newest applied patch;
    BackupError when there is none, or it cannot be rolled back."""
    records = list_backups(state_dir)
    if backup_id is None:
        for r in records:
            if r.state is BackupState.APPLIED and r.kind == "patch":
                return r
        raise BackupError("no applied patch to roll back")
    found = [r for r in records if r.id == backup_id] or [
        r for r in records if r.id.startswith(backup_id)
    ]
    if len(found) != 1:
        raise BackupError(f"no backup {backup_id!r} (or more than one); see `phoenix history`")
    record = found[0]
    if record.state is BackupState.UNREADABLE:
        raise BackupError(f"backup {record.id} is unreadable: {record.reason}")
    if record.state in _REFUSED:
        raise BackupError(f"backup {record.id} {_REFUSED[record.state]}")
    return record
