"""Start-up recovery of applies that a killed Phoenix left half done, and of its temp files.

A Phoenix killed -9 while applying a multi-file patch leaves a ``prepared`` backup and a tree
where some files are patched and some are not. Before the next training starts, every such
backup is undone (newest first), so the training always sees the tree wholly as before the
patch or, for a completed apply, wholly after it. A file edited since (neither as before nor as
after) is never overwritten: the notice then names ``phoenix rollback``. Phoenix's own leftovers
go too: ``.<name>.<hex>.phoenix-tmp`` beside the files a backup names and in the backups,
``backups/.tmp-*`` folders (a kill while writing a backup), ``state.json.tmp``, and the
scratch folders in the temp directory whose Phoenix is gone (:mod:`~phoenix_engine.io.scratch`).
"""

from __future__ import annotations

__all__ = ["recover_applies", "remove_leftovers"]

import os
import re
import shutil
from pathlib import Path

from phoenix_engine import events as ev
from phoenix_engine.io import scratch
from phoenix_engine.io.atomic import inside
from phoenix_engine.io.backups import (
    BackupError,
    find_interrupted,
    list_backups,
    undo_interrupted,
)

_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.phoenix-tmp$")  # atomic.write_atomic's temp names


def recover_applies(state_dir: Path, project_dir: Path) -> list[ev.Event]:
    """Undo interrupted applies and remove leftovers; the events that say what was done."""
    events: list[ev.Event] = []
    try:
        interrupted = find_interrupted(state_dir)
    except OSError as exc:
        return [ev.Notice(message=f"could not look for interrupted applies: {exc}")]
    for record in interrupted:
        what = f"an earlier phoenix stopped while applying patch {record.proposal_id}"
        try:
            paths = undo_interrupted(project_dir, record)
        except (BackupError, OSError, ValueError, KeyError, TypeError) as exc:
            events.append(
                ev.Notice(
                    message=f"{what}; it was not rolled back ({exc}). "
                    f"To restore the originals: phoenix rollback {record.id}"
                )
            )
            continue
        shown = ", ".join(record.paths)
        events.append(ev.Notice(message=f"{what}: interrupted apply rolled back ({shown})"))
        events.append(ev.RolledBack(backup_id=record.id, paths=paths))
    try:
        removed = remove_leftovers(state_dir, project_dir)
    except OSError as exc:
        events.append(ev.Notice(message=f"could not remove temporary files: {exc}"))
        removed = 0
    if removed:
        events.append(
            ev.Notice(message=f"removed {removed} temporary file(s) of an earlier phoenix")
        )
    return events


def remove_leftovers(state_dir: Path, project_dir: Path) -> int:
    """Delete Phoenix's own temp files and folders that a kill left behind; how many."""
    removed = 0
    root = state_dir / "backups"
    for leftover in root.glob(".tmp-*") if root.is_dir() else ():
        shutil.rmtree(leftover, ignore_errors=True)
        removed += 1
    stale = state_dir / "state.json.tmp"
    if stale.is_file():
        stale.unlink(missing_ok=True)
        removed += 1
    removed += scratch.remove_stale()  # shadow copies and model folders in the temp dir
    dirs = {state_dir}
    for record in list_backups(state_dir):
        dirs.add(record.path)
        for rel in record.paths:
            try:
                dirs.add(inside(project_dir, rel).parent)
            except ValueError:
                continue
    for directory in dirs:
        removed += _remove_temps(directory)
    return removed


def _remove_temps(directory: Path) -> int:
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if _TEMP.match(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            removed += 1
    return removed
