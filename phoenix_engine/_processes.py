"""The process seam: how the engine starts and stops the training, as one object.

The engine takes a :class:`Processes` (as httpx takes ``transport=``): the real one,
:class:`LocalProcesses`, spawns with pipes or a pseudo-terminal (``PHOENIX_PTY``) and stops
whole process trees (``io.supervisor``); a test passes a scripted one that starts nothing.
"""

from __future__ import annotations

__all__ = ["LocalProcesses", "Processes", "RunningChild"]

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from phoenix_engine.io.supervisor import ExitInfo, StopReport, spawn, stop_tree
from phoenix_engine.io.terminal import spawn_pty


class RunningChild(Protocol):
    """One started training process (``io.supervisor.Child`` is the real one)."""

    pid: int
    pgid: int
    create_time: float
    started: float  # monotonic

    @property
    def exited(self) -> bool: ...

    async def wait(self) -> ExitInfo:
        """The exit status once it is gone and its output drained."""
        ...

    async def stop(self, grace_s: float) -> StopReport:
        """Stop its whole tree: SIGINT, grace, SIGTERM, grace, SIGKILL."""
        ...

    def kill_now(self) -> None:
        """SIGKILL the tree at once (a second stop request)."""
        ...

    def track_descendants(self) -> int:
        """Remember the current descendants, so a later stop sweeps those that escape."""
        ...


class Processes(Protocol):
    """Starts the training and stops a tree left by an earlier Phoenix."""

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_output: Callable[[str, bytes], None],
    ) -> RunningChild:
        """Start ``argv``; raises ``io.supervisor.SpawnError`` when it cannot start."""
        ...

    async def stop_tree(
        self,
        pid: int,
        *,
        grace_s: float,
        create_time: float | None = None,
        pgid: int | None = None,
        mark: str = "",
    ) -> StopReport:
        """Stop ``pid``'s tree, if ``pid`` is still the process that ``create_time`` says."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalProcesses:
    """Real processes on this machine; ``pty`` puts the training on a pseudo-terminal."""

    pty: bool = False

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_output: Callable[[str, bytes], None],
    ) -> RunningChild:
        start = spawn_pty if self.pty else spawn
        return await start(argv, cwd=cwd, env=env, on_output=on_output)

    async def stop_tree(
        self,
        pid: int,
        *,
        grace_s: float,
        create_time: float | None = None,
        pgid: int | None = None,
        mark: str = "",
    ) -> StopReport:
        return await stop_tree(pid, grace_s=grace_s, create_time=create_time, pgid=pgid, mark=mark)
