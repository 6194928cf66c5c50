"""Running the test command in the shadow copy, and the gate that reads its verdict.

The command runs in its own session (inside bwrap when the sandbox is used), with a timeout;
on timeout, and on cancellation (Phoenix is stopping), the whole tree is killed at once: the
session's group, every descendant seen on the way (setsid grandchildren), every process that
carries the run's ``PHOENIX_TREE_ID`` mark (double-forked daemons), and under bwrap the PID
namespace dies with it. The environment is the user's without ``PHOENIX_*`` settings (only
the mark is added) and without secrets (variables named like KEY/TOKEN/SECRET/PASSWORD): the
code under test cannot tell it is being judged, and holds no key to leak.

The gate: exit 0, and for a pytest command a summary line with at least one passed test
(exit 0 without a summary is a failure; so is "all skipped").
"""

from __future__ import annotations

__all__ = ["Run", "run", "tail", "test_env", "verdict"]

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from phoenix_engine.core.redact import SECRET_NAME
from phoenix_engine.io import proctree

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SUMMARY = re.compile(r"^[=\s]*((?:\d+ \w+(?:, )?)+) in \d[\d.]*s", re.MULTILINE)
_PYTEST = re.compile(r"(?:^|[\s/;&|(])(?:py\.test|pytest)(?:$|[\s;&|)])")
_KEEP_BYTES = 256 * 1024  # of output, for the verdict and the tail


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    rc: int | None  # None: timed out
    output: str
    error: str = ""  # the command could not be started


def test_env(env: Mapping[str, str], shadow: Path, *, sandboxed: bool) -> dict[str, str]:
    """The test's environment: no PHOENIX_* (no ``PHOENIX_SHADOW``), no secrets."""
    result = {
        k: v for k, v in env.items() if not k.startswith("PHOENIX_") and not SECRET_NAME.search(k)
    }
    result["PYTHONDONTWRITEBYTECODE"] = "1"
    if sandboxed:  # the copy sits at the project's own path: nothing to redirect
        result["TMPDIR"] = "/tmp"  # the only writable place besides the copy
        return result
    # No sandbox: the copy lives elsewhere, so its code must win over an editable install of
    # the real project. The table in phoenix_engine.core.refused keeps test-runner names out of it.
    roots = [str(shadow)] + ([str(shadow / "src")] if (shadow / "src").is_dir() else [])
    if result.get("PYTHONPATH"):
        roots.append(result["PYTHONPATH"])
    result["PYTHONPATH"] = os.pathsep.join(roots)
    return result


def _kill_tree(pid: int, also: Sequence[psutil.Process] = ()) -> None:
    """SIGKILL the session's group, then descendants that left it (setsid grandchildren)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for proc in also:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


async def _pump(stream: asyncio.StreamReader, buf: bytearray) -> None:
    while chunk := await stream.read(65536):
        buf += chunk
        if len(buf) > 2 * _KEEP_BYTES:
            del buf[:-_KEEP_BYTES]


async def _wait_exit(
    proc: asyncio.subprocess.Process, timeout_s: float, seen: dict[int, psutil.Process]
) -> int | None:
    """The exit code, or None on timeout; notes descendants on the way so setsid ones die too.

    Polls ``returncode``: on 3.11 ``Process.wait()`` also waits for the pipes to close, which a
    background grandchild holding stdout would delay until the timeout.
    """
    loop = asyncio.get_running_loop()
    deadline, next_scan = loop.time() + timeout_s, 0.0
    while proc.returncode is None:
        now = loop.time()
        if now >= next_scan:
            seen.update((p.pid, p) for p in _descendants(proc.pid))
            next_scan = now + 0.5
        if now >= deadline:
            return None
        await asyncio.sleep(min(0.05, deadline - now))
    return proc.returncode


async def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout_s: float) -> Run:
    mark = proctree.new_mark()  # finds what the test leaves, even double-forked
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**env, proctree.MARK_ENV: mark},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return Run(rc=None, output="", error=f"could not start the test command: {exc}")
    assert proc.stdout is not None
    proctree.spawned(proc.pid)
    buf, seen = bytearray(), dict[int, psutil.Process]()
    reader = asyncio.create_task(_pump(proc.stdout, buf))
    rc: int | None = None
    try:
        rc = await _wait_exit(proc, timeout_s, seen)
    finally:  # also on cancellation: nothing the test started may outlive it
        _kill_tree(proc.pid, [*seen.values(), *_descendants(proc.pid)])
        proctree.kill_all(proctree.marked(mark))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5.0)
        proctree.waited(proc.pid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, 2.0)
    text = _ANSI.sub("", bytes(buf[-_KEEP_BYTES:]).decode("utf-8", "replace"))
    return Run(rc=rc, output=text)


def verdict(run: Run, timeout_s: float, cmd: str) -> str:
    """Why the test run failed, or '' when it passed."""
    if run.error:
        return run.error
    if run.rc is None:
        return f"test command timed out after {timeout_s:g} s"
    if run.rc == 5:
        return "pytest collected no tests (exit code 5)"
    if run.rc < 0:
        return f"test command was killed by {signal.Signals(-run.rc).name}"
    if run.rc != 0:
        return f"test command failed with exit code {run.rc}"
    summaries = _SUMMARY.findall(run.output)
    counts = (
        {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summaries[-1])} if summaries else {}
    )
    if counts.get("skipped") and not counts.get("passed"):
        return "all tests were skipped"
    if _PYTEST.search(cmd) and not counts.get("passed"):
        if not summaries:
            return "pytest printed no summary line, so no test is known to have passed (-qq?)"
        return "pytest reported no passed test"
    return ""


def tail(text: str, lines: int = 60, chars: int = 6000) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])[-chars:]
