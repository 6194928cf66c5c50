"""Backups of what a repair touches, the crash-safe apply, history, pruning and rollback.

Layout: ``<state_dir>/backups/<id>/manifest.json`` plus ``files/<relpath>``, the originals.
Order (phoenix may be killed -9 at any point of it):

1. copies and the manifest (state ``prepared``) are written and fsynced in ``.tmp-<id>``,
   then renamed to ``<id>``: a backup directory without a leading dot is always complete, and
   no project file has been touched yet;
2. each project file is replaced atomically (:func:`~phoenix_engine.io.atomic.write_atomic`);
3. the manifest is rewritten atomically with state ``applied``.

A kill between 1 and 3 leaves a ``prepared`` backup: :func:`find_interrupted` finds it and
:func:`undo_interrupted` (run by the next start, see ``recovery``) restores every original, so
the next training sees the tree wholly as it was before the patch.
"""

from __future__ import annotations

__all__ = [
    "BackupError",
    "BackupRecord",
    "BackupState",
    "RollbackResult",
    "apply_changes",
    "create_backup",
    "find_interrupted",
    "list_backups",
    "prune",
    "rollback",
    "undo_interrupted",
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

from phoenix_engine.errors import PhoenixError
from phoenix_engine.io.atomic import (
    ChangeLike,
    fsync_dir,
    inside,
    read_or_none,
    remove_stale_bytecode,
    write_atomic,
    write_synced,
)

Writer = Callable[[Path, bytes], None]
_MANIFEST = "manifest.json"
_P = ParamSpec("_P")
_R = TypeVar("_R")
_ONE_WRITER = threading.RLock()  # the console rolls back in a thread while the engine applies


def _serialised(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """One writer of project files and backups at a time, whichever thread it runs in."""

    @functools.wraps(fn)
    def locked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _ONE_WRITER:
            return fn(*args, **kwargs)

    return locked


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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Entry:
    path: str
    before: bytes | None  # None: the file does not exist
    after: bytes | None  # None: delete it
    mode: int | None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha(data: bytes | None) -> str | None:
    return None if data is None else _digest(data)


def _new_id(root: Path, now: float, proposal_id: str) -> str:
    low = proposal_id.lower()
    tag = low[:6] if re.fullmatch(r"[0-9a-f]{6,}", low) else _digest(low.encode())[:6]
    base = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + tag
    candidate, n = base, 2
    while (root / candidate).exists() or (root / f".tmp-{candidate}").exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


_TEXT = ("id", "provider", "signature", "diagnosis", "proposal_id", "kind")


def _record(path: Path, data: dict[str, Any]) -> BackupRecord:
    paths = tuple(str(f["path"]) for f in data["files"])
    state, created = BackupState(data["state"]), float(data["created"])
    return BackupRecord(
        path=path, created=created, state=state, paths=paths, **{k: str(data[k]) for k in _TEXT}
    )


def _read_manifest(path: Path) -> dict[str, Any]:
    data = json.loads((path / _MANIFEST).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ValueError("manifest is not an object with a file list")
    return data


def _set_state(record: BackupRecord, state: BackupState) -> BackupRecord:
    data = _read_manifest(record.path)
    data["state"], data["updated"] = state.value, time.time()
    write_atomic(record.path / _MANIFEST, json.dumps(data, indent=2).encode())
    return dataclasses.replace(record, state=state)


def _checked_entries(project_dir: Path, changes: Sequence[ChangeLike]) -> list[_Entry]:
    entries = []
    for change in changes:
        current = read_or_none(inside(project_dir, change.path))
        if change.before is None and current is not None:
            raise BackupError(f"{change.path} already exists; the patch meant to create it")
        if change.before is not None and current != change.before:
            raise BackupError(f"{change.path} changed on disk since the patch was proposed")
        entries.append(
            _Entry(path=change.path, before=current, after=change.after, mode=change.mode)
        )
    return entries


def _manifest(entries: Sequence[_Entry], project_dir: Path, **fields: Any) -> dict[str, Any]:
    files = []
    for e in entries:
        target = inside(project_dir, e.path)
        mode = target.stat().st_mode if e.before is not None else None
        files.append(
            {
                "path": e.path,
                "existed": e.before is not None,
                "mode": mode,
                "sha256_before": _sha(e.before),
                "sha256_after": _sha(e.after),
            }
        )
    return {"version": 1, **fields, "state": BackupState.PREPARED.value, "files": files}


def _prepare(
    state_dir: Path, project_dir: Path, entries: Sequence[_Entry], writer: Writer, **fields: Any
) -> BackupRecord:
    root = state_dir / "backups"
    root.mkdir(parents=True, exist_ok=True)
    backup_id = _new_id(root, fields["created"], fields["proposal_id"])
    tmp, final = root / f".tmp-{backup_id}", root / backup_id
    try:
        data = _manifest(entries, project_dir, id=backup_id, **fields)
        tmp.mkdir()
        for e in entries:
            if e.before is not None:
                copy = inside(tmp / "files", e.path)
                copy.parent.mkdir(parents=True, exist_ok=True)
                writer(copy, e.before)
                fsync_dir(copy.parent)
        writer(tmp / _MANIFEST, json.dumps(data, indent=2).encode())
        fsync_dir(tmp)
        os.rename(tmp, final)
        fsync_dir(root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        why = exc.strerror or str(exc)
        raise BackupError(f"could not write backup {backup_id} in {root}: {why}") from exc
    return _record(final, data)


def create_backup(
    state_dir: Path,
    project_dir: Path,
    changes: Sequence[ChangeLike],
    *,
    proposal_id: str,
    provider: str,
    signature: str,
    diagnosis: str,
    kind: str = "patch",
    clock: Callable[[], float] = time.time,
    writer: Writer = write_synced,
) -> BackupRecord:
    """Save the originals of ``changes`` and a ``prepared`` manifest; touch no project file."""
    try:
        entries = _checked_entries(project_dir, changes)
    except ValueError as exc:
        raise BackupError(str(exc)) from exc
    fields = dict(proposal_id=proposal_id, provider=provider, signature=signature)
    fields |= dict(diagnosis=diagnosis, kind=kind)
    return _prepare(state_dir, project_dir, entries, writer, created=clock(), **fields)


def _original(record: BackupRecord, entry: dict[str, Any]) -> bytes | None:
    """The backed-up bytes of one manifest entry (None: it did not exist), hash-checked."""
    data = (record.path / "files" / entry["path"]).read_bytes() if entry["existed"] else None
    if _sha(data) != entry["sha256_before"]:
        raise BackupError(f"backup {record.id}: the copy of {entry['path']} is damaged")
    return data


def _restore(project_dir: Path, record: BackupRecord, paths: set[str]) -> None:
    for f in _read_manifest(record.path)["files"]:
        if f["path"] in paths:
            target, data = inside(project_dir, f["path"]), _original(record, f)
            if data is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, data, f["mode"])
            remove_stale_bytecode(target)


def _apply(project_dir: Path, entries: Sequence[_Entry], record: BackupRecord) -> BackupRecord:
    done: set[str] = set()  # paths that may differ from the backup now
    current = ""
    try:
        for e in entries:
            current, target = e.path, inside(project_dir, e.path)
            if read_or_none(target) != e.before:
                raise BackupError(f"{e.path} changed on disk after backup {record.id}")
            done.add(e.path)
            if e.after is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, e.after, e.mode)
            remove_stale_bytecode(target)
    except (OSError, BackupError) as exc:
        try:
            _restore(project_dir, record, done)
            _set_state(record, BackupState.ABORTED)
        except (OSError, ValueError, BackupError):
            pass  # stays "prepared": find_interrupted reports it and rollback can finish
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"could not write {current}: {exc.strerror or exc}") from exc
    return _set_state(record, BackupState.APPLIED)


@_serialised
def apply_changes(
    project_dir: Path, changes: Sequence[ChangeLike], record: BackupRecord, *, dry_run: bool
) -> BackupRecord:
    """Write ``changes`` (backed up in ``record``) atomically; a dry run only marks the record."""
    if dry_run:
        return _set_state(record, BackupState.DRY_RUN)
    entries = [_Entry(path=c.path, before=c.before, after=c.after, mode=c.mode) for c in changes]
    return _apply(project_dir, entries, record)


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
            records.append(_record(path, _read_manifest(path)))
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


def undo_interrupted(project_dir: Path, record: BackupRecord) -> tuple[str, ...]:
    """Put back the originals of a ``prepared`` backup and mark it aborted; return the paths
    restored. Every file must be as before or as after the patch, else nothing is touched
    (BackupError): an edit made since is never overwritten. Safe to repeat after a kill."""
    files = _read_manifest(record.path)["files"]
    redo = []
    for f in files:
        current = _sha(read_or_none(inside(project_dir, f["path"])))
        if current not in (f["sha256_before"], f["sha256_after"]):
            raise BackupError(f"{f['path']} changed since patch {record.proposal_id} was applied")
        if current != f["sha256_before"]:
            redo.append(f["path"])
    _restore(project_dir, record, set(redo))
    _set_state(record, BackupState.ABORTED)
    return tuple(redo)


@_serialised
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


def _pick(state_dir: Path, backup_id: str | None) -> BackupRecord:
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


@_serialised
def rollback(
    state_dir: Path,
    project_dir: Path,
    backup_id: str | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> RollbackResult:
    """Restore a backup's originals (None: the newest applied patch), saving the current first."""
    record = _pick(state_dir, backup_id)
    entries = []
    for f in _read_manifest(record.path)["files"]:
        original = _original(record, f)
        current = read_or_none(inside(project_dir, f["path"]))
        entries.append(_Entry(path=f["path"], before=current, after=original, mode=f["mode"]))
    fields = dict(proposal_id=record.id, provider="phoenix", signature=record.signature)
    fields |= dict(diagnosis=f"state before rolling back {record.id}", kind="rollback")
    safety = _prepare(state_dir, project_dir, entries, write_synced, created=clock(), **fields)
    _apply(project_dir, entries, safety)
    _set_state(record, BackupState.ROLLED_BACK)
    return RollbackResult(
        backup_id=record.id, safety_backup_id=safety.id, paths=tuple(e.path for e in entries)
    )
