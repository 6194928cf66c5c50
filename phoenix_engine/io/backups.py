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
the next training sees the tree wholly as it was before the patch. The manifest and the
records (reading, listing, pruning) are :mod:`phoenix_engine.io._backup_store`'s.
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
    "original_copy",
    "prune",
    "read_manifest",
    "rollback",
    "sha",
    "undo_interrupted",
]

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from phoenix_engine.io._backup_store import (
    MANIFEST,
    BackupError,
    BackupRecord,
    BackupState,
    Entry,
    RollbackResult,
    find_interrupted,
    list_backups,
    new_id,
    new_manifest,
    original_copy,
    pick,
    prune,
    read_manifest,
    serialised,
    set_state,
    sha,
    to_record,
)
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


def _checked_entries(project_dir: Path, changes: Sequence[ChangeLike]) -> list[Entry]:
    entries = []
    for change in changes:
        current = read_or_none(inside(project_dir, change.path))
        if change.before is None and current is not None:
            raise BackupError(f"{change.path} already exists; the patch meant to create it")
        if change.before is not None and current != change.before:
            raise BackupError(f"{change.path} changed on disk since the patch was proposed")
        entries.append(
            Entry(path=change.path, before=current, after=change.after, mode=change.mode)
        )
    return entries


def _prepare(
    state_dir: Path, project_dir: Path, entries: Sequence[Entry], writer: Writer, **fields: Any
) -> BackupRecord:
    root = state_dir / "backups"
    root.mkdir(parents=True, exist_ok=True)
    backup_id = new_id(root, fields["created"], fields["proposal_id"])
    tmp, final = root / f".tmp-{backup_id}", root / backup_id
    try:
        data = new_manifest(entries, project_dir, id=backup_id, **fields)
        tmp.mkdir()
        for e in entries:
            if e.before is not None:
                copy = original_copy(tmp, e.path)
                copy.parent.mkdir(parents=True, exist_ok=True)
                writer(copy, e.before)
                fsync_dir(copy.parent)
        writer(tmp / MANIFEST, json.dumps(data, indent=2).encode())
        fsync_dir(tmp)
        os.rename(tmp, final)
        fsync_dir(root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        why = exc.strerror or str(exc)
        raise BackupError(f"could not write backup {backup_id} in {root}: {why}") from exc
    return to_record(final, data)


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
    data = original_copy(record.path, entry["path"]).read_bytes() if entry["existed"] else None
    if sha(data) != entry["sha256_before"]:
        raise BackupError(f"backup {record.id}: the copy of {entry['path']} is damaged")
    return data


def _restore(project_dir: Path, record: BackupRecord, paths: set[str]) -> None:
    for f in read_manifest(record.path)["files"]:
        if f["path"] in paths:
            target, data = inside(project_dir, f["path"]), _original(record, f)
            if data is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, data, f["mode"])
            remove_stale_bytecode(target)


def _apply(project_dir: Path, entries: Sequence[Entry], record: BackupRecord) -> BackupRecord:
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
            set_state(record, BackupState.ABORTED)
        except (OSError, ValueError, BackupError):
            pass  # stays "prepared": find_interrupted reports it and rollback can finish
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"could not write {current}: {exc.strerror or exc}") from exc
    return set_state(record, BackupState.APPLIED)


@serialised
def apply_changes(
    project_dir: Path, changes: Sequence[ChangeLike], record: BackupRecord, *, dry_run: bool
) -> BackupRecord:
    """Write ``changes`` (backed up in ``record``) atomically; a dry run only marks the record."""
    if dry_run:
        return set_state(record, BackupState.DRY_RUN)
    entries = [Entry(path=c.path, before=c.before, after=c.after, mode=c.mode) for c in changes]
    return _apply(project_dir, entries, record)


def undo_interrupted(project_dir: Path, record: BackupRecord) -> tuple[str, ...]:
    """Put back the originals of a ``prepared`` backup and mark it aborted; return the paths
    restored. Every file must be as before or as after the patch, else nothing is touched
    (BackupError): an edit made since is never overwritten. Safe to repeat after a kill."""
    files = read_manifest(record.path)["files"]
    redo = []
    for f in files:
        current = sha(read_or_none(inside(project_dir, f["path"])))
        if current not in (f["sha256_before"], f["sha256_after"]):
            raise BackupError(f"{f['path']} changed since patch {record.proposal_id} was applied")
        if current != f["sha256_before"]:
            redo.append(f["path"])
    _restore(project_dir, record, set(redo))
    set_state(record, BackupState.ABORTED)
    return tuple(redo)


@serialised
def rollback(
    state_dir: Path,
    project_dir: Path,
    backup_id: str | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> RollbackResult:
    """Restore a backup's originals (None: the newest applied patch), saving the current first."""
    record = pick(state_dir, backup_id)
    entries = []
    for f in read_manifest(record.path)["files"]:
        original = _original(record, f)
        current = read_or_none(inside(project_dir, f["path"]))
        entries.append(Entry(path=f["path"], before=current, after=original, mode=f["mode"]))
    fields = dict(proposal_id=record.id, provider="phoenix", signature=record.signature)
    fields |= dict(diagnosis=f"state before rolling back {record.id}", kind="rollback")
    safety = _prepare(state_dir, project_dir, entries, write_synced, created=clock(), **fields)
    _apply(project_dir, entries, safety)
    set_state(record, BackupState.ROLLED_BACK)
    return RollbackResult(
        backup_id=record.id, safety_backup_id=safety.id, paths=tuple(e.path for e in entries)
    )
