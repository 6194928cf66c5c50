"""Give the training what a terminal gives it, so progress bars that stay silent on a pipe talk.

``PHOENIX_PTY`` chooses per run:

- ``auto`` (default): plain pipes, plus the environment that makes Rich draw live on a pipe
  (Rich >= 14 reads ``TTY_COMPATIBLE=1`` and ``TTY_INTERACTIVE=1``; ``COLUMNS`` gives it a
  width). Lightning's default bar is Rich's when rich is installed, and without this it prints
  nothing until ``fit()`` ends. tqdm needs nothing: it draws on pipes. A value the user set is
  kept. Costs nothing on the output path.
- ``on``: a pseudo-terminal (Linux), so every library draws as it would on screen. stdout and
  stderr then share it: Phoenix sees one stream (reported as ``stdout``).
- ``off``: plain pipes, environment untouched.

:func:`spawn_pty` returns the same :class:`~phoenix_engine.io.supervisor.Child` as
:func:`~phoenix_engine.io.supervisor.spawn`; stopping the tree works the same way.
"""

from __future__ import annotations

__all__ = ["RICH_ENV", "spawn_pty", "terminal_env"]

import asyncio
import fcntl
import os
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from phoenix_engine.io import proctree
from phoenix_engine.io.supervisor import Child, SpawnError, _Protocol

RICH_ENV = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"}
_ROWS, _COLS = 50, 120


def terminal_env(env: Mapping[str, str], mode: str) -> dict[str, str]:
    """The child's environment for ``PHOENIX_PTY=mode``."""
    out = dict(env)
    if mode == "auto":
        for key, value in RICH_ENV.items():
            out.setdefault(key, value)
    elif mode == "on":
        out.setdefault("COLUMNS", str(_COLS))
        out.setdefault("TERM", "xterm-256color")
    return out


class _PtyReader(asyncio.Protocol):
    """Reads the pty's master side; its end (EIO once every writer closed) means drained."""

    def __init__(self, on_output: Callable[[str, bytes], None], child: _Protocol) -> None:
        self._on_output, self._child = on_output, child

    def data_received(self, data: bytes) -> None:
        self._on_output("stdout", data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._child.drained.done():
            self._child.drained.set_result(None)


async def spawn_pty(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_output: Callable[[str, bytes], None],
) -> Child:
    """Start ``argv`` in a new session with stdout and stderr on one pseudo-terminal."""
    if not argv:
        raise SpawnError("", "empty command")
    loop = asyncio.get_running_loop()
    master, slave = os.openpty()
    _configure(slave)
    protocol = _Protocol(on_output)
    protocol._open = set()  # no pipes: the pty reader says when the output is drained
    started = time.monotonic()
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(master)
        reason = exc.strerror or str(exc)
        if exc.filename is not None and str(exc.filename) == str(cwd):
            reason = f"working directory {cwd}: {reason}"
        raise SpawnError(argv[0], reason) from exc
    finally:
        os.close(slave)
    proctree.spawned(transport.get_pid())
    reader: Any = os.fdopen(master, "rb", buffering=0)
    await loop.connect_read_pipe(lambda: _PtyReader(on_output, protocol), reader)
    return Child(transport, protocol, started, env.get(proctree.MARK_ENV, ""))


def _configure(fd: int) -> None:
    """A terminal of _COLS x _ROWS that keeps ``\\n`` as ``\\n`` (no CRLF translation)."""
    attrs = termios.tcgetattr(fd)
    attrs[1] &= ~termios.ONLCR  # output flags
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", _ROWS, _COLS, 0, 0))
