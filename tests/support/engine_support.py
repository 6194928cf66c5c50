"""Shared helpers for engine tests (a unique module name: two conftest modules collide)."""

from __future__ import annotations

import sys
from typing import Any

from phoenix_engine import events as ev

PY = sys.executable


class Recorder:
    """An event sink that keeps everything it is given."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.name for e in self.events if e.journal]

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
