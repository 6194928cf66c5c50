"""Run one provider command: new session, prompt on stdin, capped stdout, hard timeout.

Shared by the subprocess providers (``gemini_cli``, ``cmd``).
The running and the killing are :func:`~phoenix_engine.io.run_once.run_to_completion`'s (a
command that hangs or floods stdout dies with its whole tree, and so does what it leaves at
its end or at a cancellation); this module turns its outcome into a provider's words: a
:class:`ProcResult`, or a :class:`ProcFailure` that says why there is none.
"""

from __future__ import annotations

__all__ = ["ProcFailure", "ProcResult", "exit_text", "last_line", "run_command"]

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine.io.run_once import run_to_completion, why_killed
from phoenix_engine.io.supervisor import SpawnError

_LINE_CHARS = 160


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcResult:
    """A command that finished by itself: its exit status, stdout and the end of stderr."""

    returncode: int
    stdout: bytes
    stderr: bytes = b""  # the last few KB


class ProcFailure(Exception):
    """The command did not finish by itself: not startable, timed out, or flooded stdout."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


async def run_command(
    argv: Sequence[str],
    *,
    stdin: bytes,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    max_stdout: int,
) -> ProcResult:
    """Run ``argv`` to completion (:func:`~phoenix_engine.io.run_once.run_to_completion`), or
    raise :class:`ProcFailure` once its tree is killed; cancelled, the tree is killed first."""
    try:
        done = await run_to_completion(
            argv, cwd=cwd, env=env, timeout_s=timeout_s, stdin=stdin, max_stdout=max_stdout
        )
    except SpawnError as exc:  # not found, not executable, bad cwd
        raise ProcFailure(str(exc)) from exc
    killed = why_killed(done, timeout_s=timeout_s, max_stdout=max_stdout)
    if killed is not None:
        raise ProcFailure(killed)
    assert done.returncode is not None  # only a timeout leaves it unset
    return ProcResult(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)


def last_line(data: bytes) -> str:
    """The last non-blank line, shortened: enough to say why a command failed."""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    return last if len(last) <= _LINE_CHARS else last[: _LINE_CHARS - 3] + "..."


def exit_text(returncode: int) -> str:
    """``exit status 2`` or ``killed by SIGSEGV``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"
