"""Events on the wire: versioned JSON lines between an engine and attached consoles.

Every message is one JSON object on one line with a ``type``. Events travel as their journal
record (``event``, ``ts`` as epoch seconds, fields) and are rebuilt into the same frozen
dataclasses on the other side, nested values (GPU readings) included, by the journal's own
reader (:mod:`phoenix_engine._event_rebuild`).
"""

from __future__ import annotations

__all__ = [
    "COMMANDS",
    "VERSION",
    "WireError",
    "check_command",
    "decode_event",
    "encode_event",
    "pack",
    "parse_message",
]

import dataclasses
import json
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine._event_rebuild import BadEventRecord, rebuild_event
from phoenix_engine.errors import PhoenixError

VERSION = 1
MAX_LINE = 1 << 20  # a message larger than 1 MiB is garbage, not a message

COMMANDS = ("status", "stop", "accept", "reject", "record")
_ARGUMENTS: dict[str, type | tuple[type, ...]] = {
    "id": (int, str, type(None)),
    "who": (str, int),
    "patch_id": str,
    "reason": str,
    "event": dict,
}
_LATEST_TS = 1e11  # seconds since the epoch: the year 5138; beyond is not a time


class WireError(PhoenixError):
    """A message that is not valid JSON, not an object, or not of a known shape."""


def pack(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def parse_message(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise WireError("message too long")
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise WireError("a message must be a JSON object with a string 'type'")
    return message


def check_command(message: dict[str, Any]) -> dict[str, Any]:
    """A console's command, checked before the engine acts on it: a known name and, for each
    argument it carries, the right type (an ``event`` to record is checked by decode_event)."""
    if message.get("type") != "command":
        raise WireError(f"unexpected message type {message.get('type')!r}")
    name = message.get("command")
    if name not in COMMANDS:
        raise WireError(f"unknown command {name!r}")
    for key, kinds in _ARGUMENTS.items():
        if key in message and not isinstance(message[key], kinds):
            raise WireError(f"{name}: {key!r} must be {_kind_names(kinds)}")
    if name in ("accept", "reject") and not message.get("patch_id"):
        raise WireError(f"{name} needs a patch_id")
    if name == "record" and not isinstance(message.get("event"), dict):
        raise WireError("record needs an 'event' object")
    return message


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    names = [k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,))]
    return " or ".join(names)


def encode_event(event: ev.Event) -> dict[str, Any]:
    fields = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return {"event": event.name, **fields}


def decode_event(data: dict[str, Any]) -> ev.Event:
    """Rebuild an event; an unknown name, a missing field or a value of the wrong type (a
    string ``ts``, a number for a path list, an infinite time) raises WireError, so nothing
    malformed ever reaches a sink."""
    try:
        event = rebuild_event(data)
    except BadEventRecord as exc:
        raise WireError(str(exc)) from None
    if not 0 <= event.ts < _LATEST_TS:
        raise WireError(f"bad {event.name} event: ts {event.ts!r} is not a time")
    return event


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
