"""The file side of promotion: the link, the store of promoted copies, the history.

The link (PHOENIX_PROMOTE_PATH) is swapped atomically: a new symlink is made beside it and
``os.replace``\\ d over it, so a reader sees the old model or the new one, never none. It
points into the store, ``.<name>.versions/`` beside the link, at a full copy of the candidate:
a copy and not a hard link, because a trainer that rewrites ``out/final/model.safetensors``
in place (``open(..., "wb")`` keeps the inode) would change a hard-linked model in service
too. A copy is made under a ``.partial`` name and renamed when whole. The history,
``.phoenix_cli/promotions.json``, is written (atomically) before each swap: what is in service
is always what the link says, and its record is the newest one naming that target.
"""

from __future__ import annotations

__all__ = [
    "append_record",
    "copy_into_store",
    "link_target",
    "load_history",
    "prune_kept",
    "prune_store",
    "record_for",
    "save_history",
    "store_dir",
    "swap_link",
]

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from phoenix_engine.io.atomic import fsync_dir, write_atomic

HISTORY = "promotions.json"
_KEEP_RECORDS = 500
_PARTIAL = ".partial"
_TMP_LINK = ".phoenix-tmp-"

Record = dict[str, Any]


def store_dir(link: Path) -> Path:
    return link.parent / f".{link.name}.versions"


def link_target(link: Path) -> Path | None:
    """The resolved target of ``link`` when it is a symlink to something that exists."""
    if not link.is_symlink() or not link.exists():
        return None
    return Path(os.path.realpath(link))


def swap_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically (relative when the target sits beside it)."""
    parent = link.parent
    for stale in parent.glob(f".{link.name}{_TMP_LINK}*"):  # left by a phoenix killed here
        with contextlib.suppress(OSError):
            stale.unlink()
    real_parent = os.path.realpath(parent)
    shown = os.path.relpath(target, real_parent)
    if shown.startswith(".."):
        shown = str(target)
    tmp = parent / f".{link.name}{_TMP_LINK}{secrets.token_hex(4)}"
    os.symlink(shown, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(parent)


def copy_into_store(candidate: Path, store: Path, now: float) -> Path:
    """A full copy of ``candidate`` (a file or a folder) in ``store``; returns its real path."""
    store.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    name = f"{stamp}-{candidate.name}"
    n = 1
    while (store / name).exists() or (
        store / f"{name}{_PARTIAL}"
    ).exists():  # a kill -9 leaves .partial
        n += 1
        name = f"{stamp}.{n}-{candidate.name}"
    partial = store / f"{name}{_PARTIAL}"
    try:
        if candidate.is_dir():
            # Links are followed: what they point at may be rotated away too.
            shutil.copytree(candidate, partial, ignore_dangling_symlinks=True)
        else:
            shutil.copy2(candidate, partial)
        os.rename(partial, store / name)
    except BaseException:
        _remove(partial)
        raise
    fsync_dir(store)
    return Path(os.path.realpath(store / name))


def prune_kept(link: Path, state_dir: Path, depth: int) -> list[str]:
    """Keep the copy in service and the ``depth`` before it (for rollbacks), read afresh
    from the link: the model in service is never removed."""
    records, _ = load_history(state_dir)
    keep: set[str] = set()
    target = link_target(link)
    wanted: str | None = str(target) if target is not None else None
    for _ in range(depth + 1):
        if not wanted or wanted in keep:
            break
        keep.add(wanted)
        record = record_for(records, wanted)
        wanted = record.get("previous") if record else None
    return prune_store(store_dir(link), keep)


def prune_store(store: Path, keep: Collection[str]) -> list[str]:
    """Remove copies (and partial ones) not in ``keep`` (real paths); returns their names."""
    removed: list[str] = []
    try:
        entries = list(store.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if os.path.realpath(entry) in keep:
            continue
        _remove(entry)
        removed.append(entry.name)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def load_history(state_dir: Path) -> tuple[list[Record], str]:
    """The records, oldest first, and a note when the file was unreadable."""
    path = state_dir / HISTORY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], ""
    except (OSError, ValueError) as exc:
        return [], f"{path} is unreadable ({exc}); the history starts anew"
    rows = data.get("promotions") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return [], f"{path} has no list of promotions; the history starts anew"
    return [r for r in rows if isinstance(r, dict)], ""


def save_history(state_dir: Path, records: list[Record]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    body = {"version": 1, "promotions": records[-_KEEP_RECORDS:]}
    write_atomic(state_dir / HISTORY, (json.dumps(body, indent=1) + "\n").encode())


def append_record(state_dir: Path, record: Record, now: float) -> None:
    records, _ = load_history(state_dir)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    records.append({"time": stamp, "ts": now, **record})
    save_history(state_dir, records)


def record_for(records: list[Record], target: Path | str | None) -> Record | None:
    """The newest record that put ``target`` in service."""
    if target is None:
        return None
    wanted = str(target)
    return next((r for r in reversed(records) if r.get("target") == wanted), None)
