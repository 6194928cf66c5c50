"""One Phoenix per project: ``.phoenix_cli/train.lock`` through filelock.

The OS releases the lock when its holder dies (even by kill -9), so a lock is never stale;
``train.lock.owner`` beside it says who holds it, for the message a second Phoenix prints.
Taking the lock also makes the state directory private: it holds the training's output, the
journal and backups of the user's code, so it is 0700 and its files 0600 (older ones too);
releasing it does the same for what the run wrote with other modes (manifests).
"""

from __future__ import annotations

__all__ = ["ProjectLock", "make_private", "write_private"]

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import filelock

from phoenix_engine.errors import LockHeldError, StateError


class ProjectLock:
    """Non-blocking exclusive lock on a project's state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / "train.lock"
        self.owner_path = state_dir / "train.lock.owner"
        self._lock = filelock.FileLock(self.path, timeout=0, mode=0o600, thread_local=False)

    def acquire(self) -> None:
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise LockHeldError(self._held_message(), pid=self._owner().get("pid")) from None
        except OSError as exc:
            raise StateError(f"cannot create the lock {self.path}: {exc.strerror or exc}") from exc
        make_private(self.state_dir)
        owner = {"pid": os.getpid(), "started": time.time()}
        try:
            write_private(self.owner_path, json.dumps(owner).encode())
        except OSError:
            pass  # the lock itself is what matters; the owner file only improves a message

    def release(self) -> None:
        if self._lock.is_locked:
            make_private(self.state_dir)  # what the run wrote there (manifests, backups) too
            try:
                self.owner_path.unlink(missing_ok=True)
            except OSError:
                pass
            self._lock.release()

    def is_free(self) -> bool:
        """True when nobody holds the lock (checked by taking and dropping it)."""
        probe = filelock.FileLock(self.path, timeout=0, thread_local=False)
        try:
            probe.acquire(timeout=0)
        except (filelock.Timeout, OSError):
            return False
        probe.release()
        return True

    def holder(self) -> dict[str, Any]:
        return self._owner()

    def _owner(self) -> dict[str, Any]:
        try:
            data = json.loads(self.owner_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _held_message(self) -> str:
        owner = self._owner()
        pid = owner.get("pid", "?")
        started = owner.get("started")
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
            if isinstance(started, int | float)
            else "an unknown time"
        )
        project = self.state_dir.parent
        return f"another phoenix (PID {pid}, started {when}) already supervises {project}"


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` (created 0600, truncated if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def make_private(state_dir: Path) -> None:
    """The directory and every directory in it 0700, every file 0600: only what belongs to
    this user, never through a symlink. Best effort: a file it cannot change stays as it is
    (the 0700 directory already keeps others out)."""
    uid = os.getuid()
    for root, _dirs, files in os.walk(state_dir):  # every directory is a root once
        _chmod_own(root, 0o700, uid)
        for name in files:
            _chmod_own(os.path.join(root, name), 0o600, uid)


def _chmod_own(path: str, mode: int, uid: int) -> None:
    try:
        st = os.lstat(path)
        if st.st_uid == uid and not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) != mode:
            os.chmod(path, mode)
    except OSError:
        pass
