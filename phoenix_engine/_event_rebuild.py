"""Rebuilding an event from its JSON record: the one reader behind the wire and the journal.

A record is a dict with the event's ``name`` under ``"event"`` and its fields by name, as
:mod:`phoenix_engine.remote.wire` sends it and the journal writes it (the journal's ``ts`` is
an ISO time, which its reader turns into seconds first). Every field is checked against its
declared type: ints count as floats but booleans never as numbers, lists become tuples, and
dicts become the nested readings (``GpuReading``, ``GpuProcess``) the type names. Fields this
version does not know are ignored (a newer Phoenix wrote them); anything else that does not
fit raises :class:`BadEventRecord` naming the field, so nothing malformed reaches a sink or a
history.
"""

from __future__ import annotations

__all__ = ["BadEventRecord", "rebuild_event"]

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.errors import PhoenixError

_BY_NAME: dict[str, type[ev.Event]] = {kind.name: kind for kind in ev.ALL_EVENTS}
_NESTED: dict[str, type] = {"GpuReading": ev.GpuReading, "GpuProcess": ev.GpuProcess}
_SCALARS: dict[Any, type | tuple[type, ...]] = {str: str, int: int, float: (int, float), bool: bool}


class BadEventRecord(PhoenixError):
    """A record of an unknown event, or with a field missing or of the wrong type."""


def rebuild_event(record: Mapping[str, Any]) -> ev.Event:
    """The event ``record`` describes; :class:`BadEventRecord` when it describes none."""
    kind = _BY_NAME.get(str(record.get("event")))
    if kind is None:
        raise BadEventRecord(f"unknown event {record.get('event')!r}")
    hints = _hints(kind)
    values = {
        f.name: _rebuild(record[f.name], hints[f.name], f"{kind.name}.{f.name}")
        for f in dataclasses.fields(kind)
        if f.name in record
    }
    try:
        return kind(**values)
    except TypeError as exc:  # a field this version requires is missing
        raise BadEventRecord(f"bad {kind.name} event: {exc}") from None


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(kind: type) -> dict[str, Any]:
    """The field types of a dataclass, worked out once (each costs a few milliseconds)."""
    if kind not in _HINTS:
        _HINTS[kind] = typing.get_type_hints(kind)
    return _HINTS[kind]


def _rebuild(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against ``hint``: lists back to tuples, dicts back to the nested
    dataclasses the hint names."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _rebuild_union(value, typing.get_args(hint), where)
    if origin is tuple:
        if not isinstance(value, list):
            raise BadEventRecord(f"{where} must be a list, not {type(value).__name__}")
        inner = typing.get_args(hint)[0] if typing.get_args(hint) else Any
        return tuple(_rebuild(v, inner, where) for v in value)
    nested = _NESTED.get(getattr(hint, "__name__", ""))
    if nested is not None:
        return _rebuild_nested(value, nested, where)
    expected = _SCALARS.get(hint)
    if expected is not None and (
        not isinstance(value, expected) or (isinstance(value, bool) and hint is not bool)
    ):
        raise BadEventRecord(f"{where} must be {hint.__name__}, not {type(value).__name__}")
    return float(value) if hint is float else value


def _rebuild_union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    """The first option ``value`` fits; the first option's complaint when it fits none."""
    if value is None and type(None) in options:
        return None
    first: BadEventRecord | None = None
    for option in (o for o in options if o is not type(None)):
        try:
            return _rebuild(value, option, where)
        except BadEventRecord as exc:
            first = first or exc
    assert first is not None  # a union has at least one option besides None
    raise first


def _rebuild_nested(value: Any, nested: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise BadEventRecord(f"{where} must be an object, not {type(value).__name__}")
    hints = _hints(nested)
    fields = {k: _rebuild(v, hints[k], f"{where}.{k}") for k, v in value.items() if k in hints}
    try:
        return nested(**fields)
    except TypeError as exc:
        raise BadEventRecord(f"bad {where}: {exc}") from None
