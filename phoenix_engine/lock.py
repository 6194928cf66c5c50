"""One Phoenix per project: ``.phoenix_cli/train.lock`` through filelock.

The OS releases the lock when its holder dies (even by kill -9), so a lock is never stale;
``train.lock.owner`` beside it says who holds it, for the message a second Phoenix prints.
"""

from __future__ import annotations

__all__ = ["ProjectLock"]

import json
import os
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
        self._lock = filelock.FileLock(self.path, timeout=0, thread_local=False)

    def acquire(self) -> None:
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise LockHeldError(self._held_message(), pid=self._owner().get("pid")) from None
        except OSError as exc:
            raise StateError(f"cannot create the lock {self.path}: {exc.strerror or exc}") from exc
        owner = {"pid": os.getpid(), "started": time.time()}
        try:
            self.owner_path.write_text(json.dumps(owner), encoding="utf-8")
        except OSError:
            pass  # the lock itself is what matters; the owner file only improves a message

    def release(self) -> None:
        if self._lock.is_locked:
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
