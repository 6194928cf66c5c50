"""What the sandbox shows where: the layout, the directories it covers, the tools it binds back.

The shadow copy appears at the real project's path; directories that may hold Phoenix's
socket or state (or other users' doors) are covered by an empty tmpfs; an interpreter
environment the test command needs that lies under the sandbox's private ``/tmp`` or
``/dev/shm`` (a venv made there, Phoenix's own included) is shown again read-only. Turned
into bwrap options by :func:`phoenix_engine.io.sandbox.bwrap_argv`, which re-exports these.
"""

from __future__ import annotations

__all__ = ["Layout", "hidden_dirs", "tool_binds"]

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from phoenix_engine.core.command_line import parse
from phoenix_engine.io import engine_socket


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """What the sandbox shows where (host paths, absolute)."""

    project: Path  # the real project: the shadow copy appears here
    shadow: Path  # the copy, bound read-write
    ro_binds: tuple[tuple[Path, Path], ...] = ()  # (real file or dir, where it appears)
    hide: tuple[Path, ...] = ()  # directories covered by an empty tmpfs


def hidden_dirs(env: Mapping[str, str], state_dir: Path) -> tuple[Path, ...]:
    """Directories that may hold Phoenix's socket or state, or other users' doors: covered."""
    found = [Path("/run"), Path("/var/run")]
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime:
        found.append(Path(runtime))
    for name in ("user_state_dir", "user_cache_dir"):
        found.append(Path(getattr(platformdirs, name)("phoenix")))
    sockets = engine_socket.runtime_dir()  # where a deep project's engine socket lives
    if sockets is not None:
        found.append(sockets)
    with_state = [*found, state_dir]
    out: list[Path] = []
    for path in with_state:
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            continue
        if real.is_dir() and real not in out and real != Path("/"):
            out.append(real)
    return tuple(out)


_PRIVATE = (Path("/tmp"), Path("/dev/shm"))  # the sandbox's own, empty


def tool_binds(
    command: Sequence[str], env: Mapping[str, str], project: Path
) -> tuple[tuple[Path, Path], ...]:
    """Interpreter environments the test command needs that lie in what the sandbox makes
    private (a venv made under /tmp, Phoenix's own included): shown again, read-only, at
    their place. The project's own are the shadow's business, never bound over it."""
    found = [Path(sys.prefix), Path(sys.base_prefix)]
    words = list(command[:1])
    if len(command) >= 3 and command[1] == "-c":  # /bin/sh -c "...": its first program
        words += [w for w in [parse(command[2]).program] if w]  # the one shell rule's
    for word in words:
        exe = shutil.which(word, path=env.get("PATH", os.defpath)) if os.sep not in word else word
        if exe and os.path.isabs(exe):
            found.append(_env_root(Path(exe)))
    out: list[tuple[Path, Path]] = []
    for path in found:
        real = Path(os.path.realpath(path))
        private = any(real.is_relative_to(p) and real != p for p in _PRIVATE)
        keep = private and real.is_dir() and not real.is_relative_to(project)
        if keep and (real, real) not in out:
            out.append((real, real))
    return tuple(out)


def _env_root(exe: Path) -> Path:
    """The virtualenv holding ``exe`` (the folder with ``pyvenv.cfg``), else its folder."""
    for parent in exe.parents:
        if (parent / "pyvenv.cfg").is_file():
            return parent
    return exe.parent
