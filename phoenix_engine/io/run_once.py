"""Running one command to completion: the provider commands, the shadow's tests, doctor's probes.

:func:`run_to_completion` starts the command with :func:`~phoenix_engine.io.supervisor.spawn`
(its own session, a fresh ``PHOENIX_TREE_ID`` mark), collects its output, and when it ends,
times out, floods stdout or is cancelled (Phoenix stopping) kills its whole tree at once with
:meth:`~phoenix_engine.io.processes.ProcessTree.kill_now`: the group, every descendant seen on
the way (a setsid grandchild whose parent already died), every marked process (double-forked
daemons). Nothing a command started outlives it. The end is the process's exit, not the
closing of its pipes: a daemon holding stdout does not keep the caller waiting.
"""

from __future__ import annotations

__all__ = [
    "Completion",
    "run_to_completion",
    "why_killed",
]

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine.io import proctree
from phoenix_engine.io.supervisor import Child, ExitInfo, spawn

_STDERR_KEEP = 4096  # the end of stderr says why a command failed
_TRACK_EVERY_S = 0.5  # how often descendants are noted while the command runs
_WAIT_AFTER_KILL_S = 5.0  # a killed command's pipes may be held by a process we cannot see


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """How one command ended and what it printed."""

    returncode: int | None  # negative: killed by that signal; None: killed at the timeout
    stdout: bytes  # all of it, or its last ``max_stdout`` bytes with ``keep_tail``
    stderr: bytes = b""  # the last few KB (empty with ``merge_stderr``)
    overflowed: bool = False  # stdout passed ``max_stdout`` and the command was killed


def why_killed(done: Completion, *, timeout_s: float, max_stdout: int | None) -> str | None:
    """Why Phoenix killed the command (its timeout, its output cap), or None: it ended."""
    if done.returncode is None:
        return f"no reply within {timeout_s:g}s (killed)"
    if done.overflowed and max_stdout is not None:
        return f"output larger than {max_stdout / 1024 / 1024:g} MB (killed)"
    return None


async def run_to_completion(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    stdin: bytes | None = None,
    max_stdout: int | None = None,
    keep_tail: bool = False,
    merge_stderr: bool = False,
) -> Completion:
    """Run ``argv`` until it exits or ``timeout_s`` passes, then kill what is left of its tree.

    ``stdin`` is written and closed (none: /dev/null). Past ``max_stdout`` bytes the command
    is killed (``overflowed``), or with ``keep_tail`` only the last ``max_stdout`` are kept.
    Raises :class:`~phoenix_engine.io.supervisor.SpawnError` when it cannot start; cancelled,
    it kills the tree before the CancelledError goes on."""
    out, err = bytearray(), bytearray()
    flooded: list[Child] = []  # the child, once its stdout passed the cap
    child: Child | None = None

    def on_output(stream: str, data: bytes) -> None:
        if stream == "stderr":
            err.extend(data)
            del err[:-_STDERR_KEEP]
            return
        out.extend(data)
        if max_stdout is None or len(out) <= max_stdout:
            return
        if keep_tail:
            del out[:-max_stdout]
        elif child is not None and not flooded:
            flooded.append(child)
            child.kill_now()

    mark = proctree.new_mark()
    child = await spawn(
        argv,
        cwd=cwd,
        env={**env, proctree.MARK_ENV: mark},
        on_output=on_output,
        stdin=stdin,
        merge_stderr=merge_stderr,
    )
    info: ExitInfo | None = None
    try:
        info = await _wait(child, timeout_s)
    finally:  # also on cancellation: nothing the command started may outlive it
        child.kill_now()  # at a timeout the command, after an exit its stragglers
        if info is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), _WAIT_AFTER_KILL_S)
    if info is None:
        return Completion(returncode=None, stdout=bytes(out), stderr=bytes(err))
    code = info.returncode if info.returncode is not None else -(info.signal or 0)
    return Completion(
        returncode=code, stdout=bytes(out), stderr=bytes(err), overflowed=bool(flooded)
    )


async def _wait(child: Child, timeout_s: float) -> ExitInfo | None:
    """The child's exit, or None at the timeout; notes its descendants on the way, so a
    setsid grandchild is still found once its parent has died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    waiter = asyncio.ensure_future(child.wait())
    try:
        while True:
            left = deadline - loop.time()
            done, _ = await asyncio.wait({waiter}, timeout=max(0.0, min(_TRACK_EVERY_S, left)))
            if done:
                return waiter.result()
            if left <= _TRACK_EVERY_S:
                return None
            child.track_descendants()
    finally:
        waiter.cancel()  # the exit itself is shielded inside Child.wait
