"""The one fake clock of the test suite: time that moves only when a test (or a sleep) moves it.

Pass the instance where the code takes a clock callable (``monotonic=``, ``clock=``, ``now=``);
pass ``.sleep`` where it takes an async sleep, so a backoff of minutes takes no wall time and the
test can read back what was slept. ``tick`` makes every reading advance the clock, for code that
needs each timestamp it takes to differ (backup ids named by the second).
"""

from __future__ import annotations

__all__ = ["VirtualTime"]

import asyncio


class VirtualTime:
    """A clock at ``now`` (seconds); ``advance``, ``sleep`` or an assignment move it."""

    def __init__(self, start: float = 0.0, *, tick: float = 0.0) -> None:
        self.now = start
        self.tick = tick
        self.slept: list[float] = []

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def clock(self) -> float:
        """The same reading as calling the instance (for APIs that want a bound method)."""
        return self()

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the wait, move the clock by it, and yield once so other tasks run."""
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)
