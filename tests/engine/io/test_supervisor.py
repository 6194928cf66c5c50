"""Supervisor tests with real tiny child processes; every test checks that nothing survives."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from waiting import until_sync

from phoenix_engine.core.lines import LineSplitter
from phoenix_engine.errors import PhoenixError
from phoenix_engine.io.supervisor import Child, ExitInfo, SpawnError, spawn, stop_tree

pytestmark = pytest.mark.timeout(15)

GRACE = 0.3

# A grandchild that reports its pid once its signal handlers are in place, then sleeps.
GRANDCHILD = """
import os, signal, sys, time
if 'setsid' in sys.argv: os.setsid()
for name in sys.argv[1:]:
    if name.startswith('SIG'): signal.signal(getattr(signal, name), signal.SIG_IGN)
print('grandchild', os.getpid(), flush=True)
time.sleep(30)
"""

# A child that starts GRANDCHILD with the given arguments, then sleeps (PARENT) or exits.
PARENT_EXITS = f"""
import subprocess, sys, time
gc = subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}, *sys.argv[1:]])
"""
PARENT = PARENT_EXITS + "time.sleep(30)\n"


class Capture:
    """An on_output sink that keeps the raw bytes of both streams."""

    def __init__(self) -> None:
        self.raw = {"stdout": bytearray(), "stderr": bytearray()}
        self.changed = asyncio.Event()

    def __call__(self, stream: str, data: bytes) -> None:
        self.raw[stream] += data
        self.changed.set()

    async def until(self, prefix: bytes, timeout: float = 5.0) -> None:
        """Wait for a complete stdout line that starts with ``prefix``."""
        async with asyncio.timeout(timeout):
            while self._line(prefix) is None:
                self.changed.clear()
                await self.changed.wait()

    def grandchild_pid(self) -> int:
        line = self._line(b"grandchild ")
        assert line is not None
        return int(line.split()[1])

    def _line(self, prefix: bytes) -> bytes | None:
        # Writes may reach us split anywhere (PYTHONUNBUFFERED, pipes): only whole lines count.
        lines = bytes(self.raw["stdout"]).split(b"\n")[:-1]
        return next((line for line in lines if line.startswith(prefix)), None)


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie (an init that does not reap keeps those)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_gone(*pids: int) -> None:
    def left() -> list[int]:
        return [p for p in pids if not gone(p)]

    until_sync(lambda: left() == [], 2.0, what=lambda: f"processes {left()} to end")


@pytest.fixture(autouse=True)
def no_leftover_children() -> Iterator[None]:
    yield
    left = [p for p in psutil.Process().children(recursive=True) if not gone(p.pid)]
    for proc in left:  # clean up after a failed test before reporting it
        proc.kill()
    assert left == []


async def start(code: str, *args: str, tmp_path: Path, capture: Capture | None = None) -> Child:
    sink = capture if capture is not None else Capture()
    argv = [sys.executable, "-c", code, *args]
    return await spawn(argv, cwd=tmp_path, env=dict(os.environ), on_output=sink)


async def test_output_is_complete_and_in_order(tmp_path: Path) -> None:
    count = 1_000_000
    code = f"""
import sys
out, err = sys.stdout.buffer, sys.stderr.buffer
for i in range({count}):
    out.write(b'o%d\\n' % i)
    err.write(b'e%d\\n' % i)
"""
    splitters = {"stdout": LineSplitter(), "stderr": LineSplitter()}
    lines: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def on_output(stream: str, data: bytes) -> None:
        lines[stream] += splitters[stream].feed(data)

    child = await spawn([sys.executable, "-c", code], cwd=tmp_path, env={}, on_output=on_output)
    assert await child.wait() == ExitInfo(returncode=0, signal=None)
    assert lines["stdout"] == [f"o{i}" for i in range(count)]
    assert lines["stderr"] == [f"e{i}" for i in range(count)]


async def test_invalid_utf8_bytes_reach_on_output_untouched(tmp_path: Path) -> None:
    payload = b"\xff\xfe\x80 ok \xe2\x9c\n\x1b[31m"
    capture = Capture()
    code = f"import sys; sys.stdout.buffer.write({payload!r})"
    child = await start(code, tmp_path=tmp_path, capture=capture)
    await child.wait()
    assert bytes(capture.raw["stdout"]) == payload


async def test_exit_code(tmp_path: Path) -> None:
    child = await start("import sys; sys.exit(3)", tmp_path=tmp_path)
    assert await child.wait() == ExitInfo(returncode=3, signal=None)
    assert child.exited
    assert child.pgid == child.pid
    assert child.create_time > 0


async def test_children_that_exit_at_once(tmp_path: Path) -> None:
    # Their pipes may hit EOF before spawn() returns; enlarging a closed pipe must not raise.
    for _ in range(100):
        capture = Capture()
        code = "import os; os.write(1, b'bye'); os._exit(1)"
        child = await start(code, tmp_path=tmp_path, capture=capture)
        assert await child.wait() == ExitInfo(returncode=1, signal=None)
        assert capture.raw["stdout"] == b"bye"


async def test_death_by_signal(tmp_path: Path) -> None:
    code = (
        "import os, resource, signal\n"
        "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
        "os.kill(os.getpid(), signal.SIGSEGV)"
    )
    child = await start(code, tmp_path=tmp_path)
    assert await child.wait() == ExitInfo(returncode=None, signal=signal.SIGSEGV)


async def test_wait_is_quick_when_a_grandchild_holds_the_pipes(tmp_path: Path) -> None:
    capture = Capture()
    child = await start(PARENT_EXITS, tmp_path=tmp_path, capture=capture)
    await capture.until(b"grandchild")
    started = time.monotonic()
    assert await child.wait() == ExitInfo(returncode=0, signal=None)
    assert time.monotonic() - started < 2.0
    grandchild = capture.grandchild_pid()
    assert not gone(grandchild)
    report = await stop_tree(
        child.pid, grace_s=GRACE, create_time=child.create_time, pgid=child.pgid
    )
    assert report.signals_sent == ("SIGINT",)
    assert_gone(child.pid, grandchild)


async def test_clean_sigint_exit_needs_only_sigint(tmp_path: Path) -> None:
    capture = Capture()
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(0))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)"
    )
    child = await start(code, tmp_path=tmp_path, capture=capture)
    await capture.until(b"ready")
    report = await child.stop(GRACE)
    assert report.signals_sent == ("SIGINT",)
    assert (report.escaped_killed, report.survived) == (0, 0)
    assert await child.wait() == ExitInfo(returncode=0, signal=None)
    assert_gone(child.pid)


async def test_stubborn_child_needs_sigkill(tmp_path: Path) -> None:
    capture = Capture()
    child = await start(GRANDCHILD, "SIGINT", "SIGTERM", tmp_path=tmp_path, capture=capture)
    await capture.until(b"grandchild")
    report = await child.stop(GRACE)
    assert report.signals_sent == ("SIGINT", "SIGTERM", "SIGKILL")
    assert report.survived == 0
    assert await child.wait() == ExitInfo(returncode=None, signal=signal.SIGKILL)
    assert_gone(child.pid)


async def test_grandchild_ignoring_sigterm_dies_with_the_group(tmp_path: Path) -> None:
    capture = Capture()
    child = await start(PARENT, "SIGINT", "SIGTERM", tmp_path=tmp_path, capture=capture)
    await capture.until(b"grandchild")
    grandchild = capture.grandchild_pid()
    report = await child.stop(GRACE)
    assert report.signals_sent == ("SIGINT", "SIGTERM", "SIGKILL")
    assert (report.escaped_killed, report.survived) == (0, 0)
    assert_gone(child.pid, grandchild)


async def test_grandchild_escaping_with_setsid_is_swept(tmp_path: Path) -> None:
    capture = Capture()
    args = ("setsid", "SIGINT", "SIGTERM")
    child = await start(PARENT, *args, tmp_path=tmp_path, capture=capture)
    await capture.until(b"grandchild")
    grandchild = capture.grandchild_pid()
    assert os.getpgid(grandchild) != child.pgid
    report = await child.stop(GRACE)
    assert report.signals_sent == ("SIGINT",)
    assert (report.escaped_killed, report.survived) == (1, 0)
    assert_gone(child.pid, grandchild)


async def test_escapee_is_swept_after_its_parent_died(tmp_path: Path) -> None:
    capture = Capture()
    child = await start(PARENT, "setsid", "SIGINT", "SIGTERM", tmp_path=tmp_path, capture=capture)
    await capture.until(b"grandchild")
    assert child.track_descendants() >= 2
    os.kill(child.pid, signal.SIGINT)  # the parent dies; the escaped grandchild is orphaned
    assert await child.wait() == ExitInfo(returncode=None, signal=signal.SIGINT)
    report = await child.stop(GRACE)
    assert report.signals_sent == ()
    assert (report.escaped_killed, report.survived) == (1, 0)
    assert_gone(capture.grandchild_pid())


async def test_kill_now(tmp_path: Path) -> None:
    capture = Capture()
    child = await start(PARENT, "SIGINT", "SIGTERM", tmp_path=tmp_path, capture=capture)
    await capture.until(b"grandchild")
    child.kill_now()
    assert await child.wait() == ExitInfo(returncode=None, signal=signal.SIGKILL)
    assert_gone(child.pid, capture.grandchild_pid())


async def test_stop_tree_with_wrong_create_time_signals_nothing(tmp_path: Path) -> None:
    capture = Capture()
    child = await start(GRANDCHILD, tmp_path=tmp_path, capture=capture)
    await capture.until(b"grandchild")
    report = await stop_tree(child.pid, grace_s=GRACE, create_time=child.create_time + 1000)
    assert report.signals_sent == ()
    assert not child.exited and not gone(child.pid)
    report = await stop_tree(child.pid, grace_s=GRACE, create_time=child.create_time)
    assert report.signals_sent == ("SIGINT",)
    assert await child.wait() == ExitInfo(returncode=None, signal=signal.SIGINT)


async def test_stop_tree_of_a_vanished_pid_is_a_no_op() -> None:
    dead = psutil.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    report = await stop_tree(dead.pid, grace_s=GRACE, create_time=1.0)
    assert report.signals_sent == ()


async def test_missing_executable(tmp_path: Path) -> None:
    with pytest.raises(SpawnError, match="No such file") as info:
        await spawn([str(tmp_path / "nope")], cwd=tmp_path, env={}, on_output=Capture())
    assert isinstance(info.value, PhoenixError)
    assert info.value.program == str(tmp_path / "nope")


async def test_file_that_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "train.sh"
    script.write_text("echo hi\n")
    script.chmod(0o644)
    with pytest.raises(SpawnError, match="Permission denied"):
        await spawn([str(script)], cwd=tmp_path, env={}, on_output=Capture())


async def test_missing_cwd_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpawnError, match=r"working directory .*gone"):
        await spawn([sys.executable], cwd=tmp_path / "gone", env={}, on_output=Capture())


async def test_empty_command() -> None:
    with pytest.raises(SpawnError, match="empty command"):
        await spawn([], cwd=Path.cwd(), env={}, on_output=Capture())


# -- by hand, not part of the suite: PYTHONPATH=. .venv/bin/python tests/engine/test_supervisor.py

PRODUCER = """
import os, sys
line = b'step 12345 | loss 0.123456 | lr 3.0e-04 | grad_norm 1.2345 | tok/s 123456.7 | ok xxxxxx\\n'
block = line * (65536 // len(line))
for _ in range(int(sys.argv[1]) * 1_000_000 // len(block)):
    os.write(1, block)
"""


async def _stream(megabytes: int, *, split: bool) -> tuple[float, int]:
    splitter, seen = LineSplitter(), [0, 0]

    def on_output(stream: str, data: bytes) -> None:
        seen[0] += len(data)
        if split:
            seen[1] += len(splitter.feed(data))

    start = time.perf_counter()
    argv = [sys.executable, "-c", PRODUCER, str(megabytes)]
    child = await spawn(argv, cwd=Path.cwd(), env={}, on_output=on_output)
    await child.wait()
    return time.perf_counter() - start, seen[0]


async def _exit_latency_ms() -> list[float]:
    result = []
    seen = [0.0]

    def on_output(stream: str, data: bytes) -> None:
        seen[0] = seen[0] or time.perf_counter()

    for _ in range(20):
        seen[0] = 0.0

        code = "import os; os.write(1, b'bye'); os._exit(1)"
        child = await spawn(
            [sys.executable, "-c", code], cwd=Path.cwd(), env={}, on_output=on_output
        )
        await child.wait()
        result.append((time.perf_counter() - seen[0]) * 1000)
    return sorted(result)


def _throughput(megabytes: int = 1000) -> None:
    import subprocess

    argv = [sys.executable, "-c", PRODUCER, str(megabytes)]
    start = time.perf_counter()
    producer = subprocess.Popen(argv, stdout=subprocess.PIPE)
    subprocess.run(["cat"], stdin=producer.stdout, stdout=subprocess.DEVNULL, check=True)
    producer.wait()
    base = time.perf_counter() - start
    print(f"baseline producer | cat > /dev/null: {megabytes / base:6.0f} MB/s")
    for split in (False, True):
        elapsed, size = asyncio.run(_stream(megabytes, split=split))
        label = "spawn + LineSplitter" if split else "spawn, raw chunks   "
        print(f"{label}: {size / 1e6 / elapsed:6.0f} MB/s ({base / elapsed:.2f}x cat)")
    latency = asyncio.run(_exit_latency_ms())
    print(f"exit -> wait() ms: median {latency[10]:.2f}, max {latency[-1]:.2f}")


if __name__ == "__main__":
    _throughput()
