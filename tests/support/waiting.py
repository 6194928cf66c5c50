"""The one bounded wait of the test suite: poll a condition until it holds or time runs out.

``until`` is for coroutines (it yields to the event loop between looks, or to ``pause`` such as
a Textual pilot's), ``until_sync`` for plain code waiting on another process or thread. Both
fail with an AssertionError that says what never happened; ``what`` may be a callable so the
message can show the state at the moment of failure (a screen, a log). ``give_up`` ends the wait
early when waiting longer is pointless (the process being watched has exited).

Prefer awaiting a real event (an ``asyncio.Event``, a line read from a pipe) where the code
under test offers one; poll only what has no event to wait on (a file, another process).
"""

from __future__ import annotations

__all__ = ["until", "until_sync"]

import asyncio
import time
from collections.abc import Awaitable, Callable

Message = str | Callable[[], str]


def _failure(what: Message, timeout: float, *, gave_up: bool) -> AssertionError:
    text = what() if callable(what) else what
    why = "gave up waiting" if gave_up else f"not within {timeout:g} s"
    return AssertionError(f"never happened ({why}): {text}")


async def until(
    predicate: Callable[[], object],
    timeout: float = 10.0,
    *,
    what: Message = "the condition",
    interval: float = 0.01,
    pause: Callable[[float], Awaitable[object]] | None = None,
    give_up: Callable[[], bool] | None = None,
) -> None:
    """Return once ``predicate()`` is true; raise AssertionError after ``timeout`` seconds."""
    rest = asyncio.sleep if pause is None else pause
    deadline = time.monotonic() + timeout
    while not predicate():
        if give_up is not None and give_up():
            raise _failure(what, timeout, gave_up=True)
        if time.monotonic() > deadline:
            raise _failure(what, timeout, gave_up=False)
        await rest(interval)


def until_sync(
    predicate: Callable[[], object],
    timeout: float = 10.0,
    *,
    what: Message = "the condition",
    interval: float = 0.02,
    give_up: Callable[[], bool] | None = None,
) -> None:
    """``until`` for code outside an event loop: blocks this thread between looks."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if give_up is not None and give_up():
            raise _failure(what, timeout, gave_up=True)
        if time.monotonic() > deadline:
            raise _failure(what, timeout, gave_up=False)
        time.sleep(interval)
