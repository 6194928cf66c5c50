"""File primitives for repairs: crash-safe writes, safe relative paths, stale bytecode.

Owns :class:`ChangeLike`, the shape of one file change that the shadow run and the backups
accept (``phoenix_engine.core.proposal.FileChange`` has it), so neither depends on how proposals
are built. An atomic write is: a temp file in the same directory, fsync, ``os.replace``, fsync
of the directory; a reader (or a crash) sees the old bytes or the new ones, never a mix.
"""

from __future__ import annotations

__all__ = [
    "ChangeLike",
    "fsync_dir",
    "inside",
    "read_or_none",
    "remove_stale_bytecode",
    "shown_path",
    "write_atomic",
    "write_synced",
]

import contextlib
import os
import secrets
import stat
from pathlib import Path, PurePosixPath
from typing import Protocol


class ChangeLike(Protocol):
    """One file change: ``before`` None means a new file; ``mode`` None keeps the current mode."""

    @property
    def path(self) -> str: ...  # relative, posix separators

    @property
    def before(self) -> bytes | None: ...

    @property
    def after(self) -> bytes: ...

    @property
    def mode(self) -> int | None: ...


def inside(root: Path, relpath: str) -> Path:
    """``root / relpath`` for a relative posix path that cannot leave ``root``; else ValueError."""
    pure = PurePosixPath(relpath)
    if not relpath or pure.is_absolute() or "\\" in relpath or ".." in pure.parts:
        raise ValueError(f"not a safe relative path: {relpath!r}")
    target = root.joinpath(*pure.parts)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(target)]) != real_root:
        raise ValueError(f"{relpath!r} resolves outside {root}")
    return target


def read_or_none(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes) -> None:
    """Write and fsync a file that nobody reads until its directory is published (backups:
    copies of the user's code, so 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _copy_owner_and_mode(fd: int, mode: int | None, existing: os.stat_result | None) -> None:
    if mode is not None:
        os.fchmod(fd, stat.S_IMODE(mode))
    elif existing is not None:
        os.fchmod(fd, stat.S_IMODE(existing.st_mode))
    if existing is not None and (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
        # Phoenix may run as root over a user's checkout: keep the file theirs.
        with contextlib.suppress(OSError):
            os.fchown(fd, existing.st_uid, existing.st_gid)


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically, keeping its mode (or setting ``mode``).

    A symlink is kept and its target replaced. A new file gets 0o666 less the umask.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        existing: os.stat_result | None = path.stat()
    except FileNotFoundError:
        existing = None
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.phoenix-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            _copy_owner_and_mode(fh.fileno(), mode, existing)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def remove_stale_bytecode(path: Path) -> list[Path]:
    """Delete ``__pycache__/<stem>.*.pyc`` beside a changed ``.py`` file; return what went.

    Python checks a .pyc against the source's mtime in whole seconds and its size, so a patch
    of equal size written within the same second would otherwise keep running the old code.
    """
    if path.suffix != ".py":
        return []
    cache = path.parent / "__pycache__"
    removed: list[Path] = []
    try:
        entries = list(os.scandir(cache))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    prefix = path.stem + "."
    for entry in entries:
        rest = entry.name[len(prefix) :]
        if entry.name.startswith(prefix) and rest.endswith(".pyc") and len(rest) > 4:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def shown_path(path: Path, project_dir: Path) -> str:
    """``path`` relative to the project when inside it, else absolute."""
    try:
        return str(path.relative_to(project_dir))
    except ValueError:
        return str(path)
