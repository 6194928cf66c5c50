"""The shadow copy: the project's source in a throwaway directory, never a writable real file.

The walk uses ``os.scandir`` and reads no file it does not copy. ``.phoenix_cli`` and caches
are left out; so are virtualenvs (any directory holding ``pyvenv.cfg``), ``node_modules`` and
version control, which the sandbox binds read-only at their place instead (outside it, the
real ones are at their real path anyway). Small files are copied. Heavy files (over
``big_file_bytes`` and not allowlisted, or anything in the data directory) are, in this order:

1. reflinked (``FICLONE``: a private copy-on-write clone, free where btrfs/XFS allow it);
2. copied while the run's copy budget lasts (so an ordinary test that saves a checkpoint
   writes its own copy);
3. in the sandbox, bound read-only at their place (the data directory as a whole is always
   bound, never copied); outside it, symlinked only when this user cannot write through the
   link (not the owner and no write permission), else left out and named in ``left_out``.

A symlink to copied source is pointed into the copy; any other keeps its real target, which
is read-only in the sandbox. No bytecode is written and ``__pycache__`` is never copied.
"""

from __future__ import annotations

__all__ = ["DEFAULT_BUDGET", "SKIP_DIRS", "CopyStats", "Stopped", "copy_project"]

import contextlib
import fcntl
import fnmatch
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = frozenset(
    {".phoenix_cli", ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox"}
)
# Left out of the copy but, in the sandbox, bound read-only at their place: the real run has
# them at the project's path (a test command may well be ``.venv/bin/python -m pytest``).
BOUND_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", ".tox", ".nox"})
DEFAULT_BUDGET = 256 * 1024 * 1024  # bytes of heavy files copied per shadow run
_FICLONE = 0x40049409


class Stopped(Exception):
    """The copy was asked to stop (Phoenix is stopping)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyStats:
    copied: int = 0  # files copied (or reflinked)
    linked: int = 0  # read-only links or binds to real files and directories
    skipped: int = 0  # directories left out, special files
    bytes_copied: int = 0
    binds: tuple[tuple[str, str], ...] = ()  # (real path, relative path): bound read-only
    left_out: tuple[str, ...] = ()  # heavy files the test will not find (no sandbox)


@dataclass(slots=True, kw_only=True)
class _Walk:
    root: str
    allowlist: Sequence[str]
    big_file_bytes: int
    data_rel: str | None
    sandboxed: bool
    budget: int
    stop: threading.Event
    counts: dict[str, int] = field(
        default_factory=lambda: {"copied": 0, "linked": 0, "skipped": 0, "bytes_copied": 0}
    )
    binds: list[tuple[str, str]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def _data_rel(project_dir: Path, data_dir: str) -> str | None:
    if not data_dir.strip():
        return None
    path = Path(data_dir)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(project_dir.resolve())
        except ValueError:
            return None  # outside the project: the copy never meets it
    return path.as_posix().strip("/") or None


def _link_target(entry: os.DirEntry[str], root: str) -> str:
    """Point a link into the copy when it targets copied source; else at the real target."""
    real = os.path.normpath(os.path.join(os.path.dirname(entry.path), os.readlink(entry.path)))
    rel = os.path.relpath(real, root)
    if rel.startswith("..") or rel.split(os.sep)[0] in SKIP_DIRS:
        return real
    return os.path.relpath(real, os.path.dirname(entry.path))


def copy_project(
    project_dir: Path,
    dest: Path,
    *,
    allowlist: Sequence[str],
    data_dir: str,
    big_file_bytes: int,
    sandboxed: bool = False,
    budget_bytes: int = DEFAULT_BUDGET,
    stop: threading.Event | None = None,
) -> CopyStats:
    """Copy the project's source into ``dest`` (created); raises :class:`Stopped`."""
    walk = _Walk(
        root=os.path.abspath(project_dir),
        allowlist=allowlist,
        big_file_bytes=big_file_bytes,
        data_rel=_data_rel(project_dir, data_dir),
        sandboxed=sandboxed,
        budget=budget_bytes,
        stop=stop or threading.Event(),
    )
    os.makedirs(dest, exist_ok=True)
    stack = [(walk.root, str(dest), "", False)]
    while stack:
        if walk.stop.is_set():
            raise Stopped
        src_dir, dst_dir, prefix, heavy = stack.pop()
        with os.scandir(src_dir) as entries:
            for entry in entries:
                rel, dst = prefix + entry.name, os.path.join(dst_dir, entry.name)
                if entry.is_symlink() and _linked_data(walk, entry, rel):
                    os.mkdir(dst)  # outside the sandbox a link would be writable: copy
                    stack.append((entry.path, dst, rel + "/", True))
                elif entry.is_symlink():
                    os.symlink(_link_target(entry, walk.root), dst)
                elif entry.is_dir(follow_symlinks=False):
                    _dir(walk, entry, dst, rel, heavy, stack)
                elif entry.is_file(follow_symlinks=False):
                    _file(walk, entry, dst, rel, heavy)
                else:
                    walk.counts["skipped"] += 1  # sockets, fifos, devices
    return CopyStats(**walk.counts, binds=tuple(walk.binds), left_out=tuple(walk.left_out))


def _linked_data(walk: _Walk, entry: os.DirEntry[str], rel: str) -> bool:
    return rel == walk.data_rel and not walk.sandboxed and entry.is_dir(follow_symlinks=True)


def _dir(
    walk: _Walk,
    entry: os.DirEntry[str],
    dst: str,
    rel: str,
    heavy: bool,
    stack: list[tuple[str, str, str, bool]],
) -> None:
    env = os.path.lexists(os.path.join(entry.path, "pyvenv.cfg"))
    if walk.sandboxed and (entry.name in BOUND_DIRS or env):
        os.mkdir(dst)  # the mount point
        walk.binds.append((entry.path, rel))
        walk.counts["linked"] += 1
        return
    if entry.name in SKIP_DIRS or env or entry.name.startswith("phoenix-shadow-"):
        walk.counts["skipped"] += 1
        return
    os.mkdir(dst)
    if rel == walk.data_rel and walk.sandboxed:
        walk.binds.append((entry.path, rel))  # the mount point is the empty directory
        walk.counts["linked"] += 1
        return
    stack.append((entry.path, dst, rel + "/", heavy or rel == walk.data_rel))


def _file(walk: _Walk, entry: os.DirEntry[str], dst: str, rel: str, heavy: bool) -> None:
    st = entry.stat(follow_symlinks=False)
    if rel == walk.data_rel:
        heavy = True
    elif st.st_size > walk.big_file_bytes:
        heavy = heavy or not any(
            fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(entry.name, p)
            for p in walk.allowlist
        )
    if heavy and not _reflink(entry.path, dst):
        if st.st_size > walk.budget:
            _not_copied(walk, entry, dst, rel, st)
            return
        walk.budget -= st.st_size
    if not os.path.exists(dst):
        shutil.copyfile(entry.path, dst)  # sendfile(2) on Linux: no Python-level buffer copies
    os.chmod(dst, st.st_mode & 0o7777)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    walk.counts["copied"] += 1
    walk.counts["bytes_copied"] += st.st_size


def _not_copied(
    walk: _Walk, entry: os.DirEntry[str], dst: str, rel: str, st: os.stat_result
) -> None:
    if walk.sandboxed:
        Path(dst).touch(mode=st.st_mode & 0o777)  # the mount point
        walk.binds.append((entry.path, rel))
        walk.counts["linked"] += 1
    elif _unwritable(st, entry.path):
        os.symlink(entry.path, dst)
        walk.counts["linked"] += 1
    else:
        walk.left_out.append(rel)


def _unwritable(st: os.stat_result, path: str) -> bool:
    """This user can neither write the file nor make it writable (chmod needs the owner)."""
    uid = os.geteuid()
    return uid != 0 and st.st_uid != uid and not os.access(path, os.W_OK)


def _reflink(src: str, dst: str) -> bool:
    """A copy-on-write clone where the filesystem can make one; False (nothing left) if not."""
    try:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(dst)
        return False
    return True
