"""One phoenix per project: the lock, its holder's message, and release on death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phoenix_engine.errors import ExitCode, LockHeldError
from phoenix_engine.io.lock import ProjectLock

HOLD = """
import sys, time
from pathlib import Path
from phoenix_engine.io.lock import ProjectLock
lock = ProjectLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path):  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_second_lock_fails_fast_naming_pid_and_start(tmp_path: Path, holder) -> None:  # type: ignore[no-untyped-def]
    lock = ProjectLock(tmp_path)
    started = time.monotonic()
    with pytest.raises(LockHeldError) as info:
        lock.acquire()
    assert time.monotonic() - started < 1.0
    assert info.value.pid == holder.pid
    assert f"PID {holder.pid}" in str(info.value)
    assert "UTC" in str(info.value)
    assert info.value.exit_code == ExitCode.LOCKED
    assert not lock.is_free()


def test_lock_is_free_again_when_holder_is_killed_9(tmp_path: Path, holder) -> None:  # type: ignore[no-untyped-def]
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    lock = ProjectLock(tmp_path)
    lock.acquire()  # no stale lock: the OS released it
    assert lock.holder()["pid"] == os.getpid()
    lock.release()
    assert lock.is_free()


def test_acquire_release_cycle(tmp_path: Path) -> None:
    first = ProjectLock(tmp_path)
    first.acquire()
    with pytest.raises(LockHeldError):
        ProjectLock(tmp_path).acquire()
    first.release()
    second = ProjectLock(tmp_path)
    second.acquire()
    second.release()
