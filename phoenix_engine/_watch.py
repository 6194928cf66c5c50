"""Watch one running training until it exits, is stopped, trips a guard, diverges or hangs.

I/O only in what it awaits (the child, checkpoint files); what each ending means is the
sequencer's. A silence past the heartbeat is a hang, unless checkpoint files grew meanwhile
(the training may save without a word). While the tree is intact its descendants are
remembered, so that one that calls setsid() and outlives its parent is still swept.
"""

from __future__ import annotations

__all__ = ["Watcher"]

import asyncio
from collections.abc import Callable
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine._processes import RunningChild
from phoenix_engine.core.engine_state import ChildEnd
from phoenix_engine.core.heartbeat import Heartbeat
from phoenix_engine.core.settings import Settings
from phoenix_engine.io.output import OutputTail
from phoenix_engine.io.pulse import CheckpointPulse
from phoenix_engine.io.supervisor import ExitInfo

_TRACK_EVERY_S = 2.0


class Watcher:
    """One per engine; :meth:`watch` once per run of the training."""

    def __init__(
        self,
        settings: Settings,
        *,
        heartbeat: Heartbeat,
        tail: OutputTail,
        emit: Callable[[ev.Event], None],
        monotonic: Callable[[], float],
    ) -> None:
        self.settings, self.heartbeat, self.tail = settings, heartbeat, tail
        self._emit, self._mono = emit, monotonic
        self._pulse = CheckpointPulse(settings.project_dir, settings.checkpoint_glob)
        self._pulse_at = 0.0
        self.hang_tail: list[str] = []  # the tail when the hang was seen (before the SIGINT)

    async def watch(
        self,
        child: RunningChild,
        *,
        stop: asyncio.Event,
        tripped: asyncio.Event,
        diverged: asyncio.Future[ev.Anomaly],
        force: Callable[[], bool],
    ) -> tuple[ChildEnd, ExitInfo]:
        """Wait for the exit, a stop request, a guard, a divergence or a silence too long."""
        grace = self.settings.kill_grace_sec
        waiter = asyncio.ensure_future(child.wait())
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        guard: asyncio.Future[Any] = asyncio.ensure_future(tripped.wait())
        endings: set[asyncio.Future[Any]] = {waiter, stopper, guard, diverged}
        try:
            while True:
                left = self._silence_left()
                timeout = _TRACK_EVERY_S if left is None else min(left, _TRACK_EVERY_S)
                done, _ = await asyncio.wait(
                    endings,
                    timeout=timeout,
                    return_when="FIRST_COMPLETED",
                )
                if not done:
                    child.track_descendants()
                    await self._checkpoint_life()
                if waiter in done:
                    await self._sweep_leftovers(child)
                    return ChildEnd.EXITED, waiter.result()
                if stopper in done:
                    await child.stop(0.0 if force() else grace)
                    return ChildEnd.STOPPED, await waiter
                if guard in done or diverged in done:
                    await child.stop(grace)
                    return (ChildEnd.GUARD if guard in done else ChildEnd.DIVERGED), await waiter
                if self.heartbeat.left(self._mono()) <= 0:
                    silent = self.heartbeat.silent(self._mono())
                    last = self.tail.last_line()
                    self._emit(
                        ev.HangDetected(pid=child.pid, silent_s=round(silent, 3), last_line=last)
                    )
                    self.hang_tail = self.tail.lines(self.settings.tail)
                    await child.stop(grace)
                    return ChildEnd.HANG, await waiter
        finally:
            for task in (stopper, guard):
                task.cancel()

    async def _sweep_leftovers(self, child: RunningChild) -> None:
        """The training exited: stop what it left behind (workers, escaped grandchildren)
        before anything restarts, so two trainings never share the GPU."""
        report = await child.stop(self.settings.kill_grace_sec)
        if report.signals_sent or report.escaped_killed:
            sent = "/".join(report.signals_sent) or "SIGKILL"
            message = f"the training exited but left processes behind; stopped them ({sent})"
            self._emit(ev.Notice(message=message))

    async def _checkpoint_life(self) -> None:
        """Checkpoint files grew (looked at after 30 s of silence, then every 10 s at most;
        sooner under a short limit)."""
        now, limit = self._mono(), self.heartbeat.limit
        if self.heartbeat.silent(now) < min(30, limit / 2) or now - self._pulse_at < min(
            10, limit / 4
        ):
            return
        self._pulse_at = now
        if await asyncio.to_thread(self._pulse.changed):
            self.heartbeat.alive(self._mono())

    def _silence_left(self) -> float | None:
        """How long the watcher may sleep: never past the heartbeat, because the training's
        first words switch from the start-up allowance to the (shorter) heartbeat."""
        limit = self.heartbeat.limit
        if limit == float("inf"):
            return None
        left = max(0.0, self.heartbeat.left(self._mono())) + 0.001
        beat = self.settings.heartbeat_min * 60.0
        return min(left, beat) if beat > 0 else left
