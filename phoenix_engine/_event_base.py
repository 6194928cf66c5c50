"""The base of every event and its JSON-ready fields; the themed event modules build on it.

Kept apart from :mod:`phoenix_engine.events` (which re-exports everything) so that the event
modules by theme can share the base without importing the package's public face.
"""

from __future__ import annotations

__all__ = ["Event", "event_fields"]

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events; ``ts`` is seconds since the epoch (UTC) when it happened."""

    name: ClassVar[str] = "event"
    journal: ClassVar[bool] = True
    ts: float = 0.0


def event_fields(event: Event) -> dict[str, Any]:
    """The event's own fields (without ``ts``), JSON-ready: tuples become lists."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        if f.name == "ts":
            continue
        value = getattr(event, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
