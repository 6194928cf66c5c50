"""The engine's state and what an operator asks of it: stop, stop and stay, leave, resume.

One :class:`RunControl` per engine holds the current
:class:`~phoenix_engine.core.engine_state.EngineState` and moves it only through the table
(``core.engine_state.transition``). A stop request is a state (PAUSING stays for a resume,
STOPPING leaves); ``stop`` is only the wake-up signal that everything waiting on the training
(the watcher, triage's waits, a repair, an evaluation) awaits, and ``hold`` waits out HOLDING.
"""

from __future__ import annotations

__all__ = ["RunControl"]

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from phoenix_engine.core.engine_state import STOP_REQUESTED, EngineState, transition

_T = TypeVar("_T")

_S = EngineState


class RunControl:
    """``hold_after_end``: a stop with ``leave=False`` or a give-up waits for a resume."""

    def __init__(
        self,
        *,
        hold_after_end: bool,
        kill_now: Callable[[], None],
        cancel_pending: Callable[[str], None],
    ) -> None:
        self.hold_after_end = hold_after_end
        self._kill_now, self._cancel_pending = kill_now, cancel_pending
        self.state = _S.IDLE
        self.stop = asyncio.Event()  # wake-up: a stop was requested (set until a resume)
        self._moved = asyncio.Event()  # wake-up: the state changed (ends a hold)
        self.reason = ""  # the first stop request's reason (the ``stopped`` event's)
        self.force = False  # a second request: kill at once, no grace
        self.resumed_by = ""

    def move(self, target: EngineState) -> None:
        self.state = transition(self.state, target)
        self._moved.set()

    def move_unless_stopping(self, target: EngineState) -> None:
        """For a move after an await: a stop requested meanwhile keeps its state."""
        if self.state not in STOP_REQUESTED:
            self.move(target)

    def request_stop(self, reason: str, *, force: bool = False, leave: bool = True) -> None:
        """See ``Engine.request_stop``."""
        if self.stop.is_set() or force:
            self.force = True
            self._kill_now()
        self.reason = self.reason or reason
        self._cancel_pending(f"phoenix is stopping: {reason}")
        leaving = leave or not self.hold_after_end
        if self.state in (_S.PAUSING, _S.HOLDING):
            if leaving:
                self.move(_S.STOPPING)
        elif self.state not in (_S.STOPPING, _S.EXITED):
            self.move(_S.STOPPING if leaving else _S.PAUSING)
        self.stop.set()

    def resume(self, by: str) -> bool:
        """Leave HOLDING for a restart; False unless Phoenix holds."""
        if self.state is not _S.HOLDING:
            return False
        self.resumed_by = by
        self.move(_S.RESUMING)
        return True

    def holds_after(self, done: bool) -> bool:
        """Whether a run that ended (``done``: it completed) waits for a resume."""
        return not done and self.hold_after_end and self.state is not _S.STOPPING

    async def hold(self, notice: Callable[[str], None]) -> bool:
        """Hold after a stop or give-up until resumed (True) or told to leave (False)."""
        self.move(_S.HOLDING)
        notice("the training is stopped; waiting for a resume (Discord: !resume)")
        while self.state is _S.HOLDING:
            self._moved.clear()
            await self._moved.wait()
        if self.state is not _S.RESUMING:
            return False
        self.stop.clear()
        self.reason, self.force = "", False
        notice(f"resumed by {self.resumed_by}: budgets cleared, restarting the training")
        return True

    async def unless_stopped(self, work: Awaitable[_T]) -> _T | None:
        """``work``'s result, or None once a stop that leaves is requested (``work`` is then
        cancelled). A stop that stays (PAUSING) lets ``work`` finish: the run then holds."""
        task = asyncio.ensure_future(work)
        while not task.done() and self.state is not _S.STOPPING:
            self._moved.clear()
            moved = asyncio.ensure_future(self._moved.wait())
            await asyncio.wait((task, moved), return_when=asyncio.FIRST_COMPLETED)
            moved.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
