"""``.phoenix_cli/state.json``: the budgets and the running child, across Phoenix restarts.

A Phoenix restarted by systemd continues the same budgets instead of starting over; a clean
completion or ``phoenix reset`` clears them. The running child's PID and start time let the
next Phoenix recognise (and stop) a training left behind by one that was killed -9; its mark
(``PHOENIX_TREE_ID``) finds the processes that training left even after a double fork. The
file is 0600 and the training command in it is redacted (it only names the process).

Whatever the file holds (binary, a string pid, ``1e400``, wrong types), loading never raises:
a damaged file is moved aside as ``state.json.damaged-<time>`` and Phoenix starts fresh.
"""

from __future__ import annotations

__all__ = ["ChildRecord", "Ledger", "StateStore"]

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from phoenix_engine.errors import StateError

_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildRecord:
    pid: int
    pgid: int
    create_time: float
    command: str
    mark: str = ""  # PHOENIX_TREE_ID given to the training's environment

    @classmethod
    def of(cls, child: _Started, *, command: str, mark: str) -> ChildRecord:
        """The record of a process Phoenix just started (to find and stop it after a crash)."""
        return cls(
            pid=child.pid,
            pgid=child.pgid,
            create_time=child.create_time,
            command=command,
            mark=mark,
        )


class _Started(Protocol):
    pid: int
    pgid: int
    create_time: float


@dataclass(slots=True, kw_only=True)
class Ledger:
    """Mutable run state; saved after every change that matters."""

    attempts: dict[str, int] = field(default_factory=dict)  # per failure signature
    restarts: int = 0  # all causes
    tried: dict[str, list[str]] = field(default_factory=dict)  # proposal ids per signature
    fallback_uses: int = 0
    child: ChildRecord | None = None
    # Issue 12: progress marks [step or -1, checkpoint mtime] per signature and for the run,
    # restarts in a row without progress, and a training command Phoenix changed (OOM fix).
    marks: dict[str, list[float]] = field(default_factory=dict)
    best: list[float] = field(default_factory=list)
    no_progress: int = 0
    command: dict[str, str] = field(default_factory=dict)  # original, command, why

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = _VERSION
        return data

    @classmethod
    def from_json(cls, data: object) -> Ledger:
        """The ledger in ``data``; ValueError naming the first field of the wrong shape."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        attempts = _mapping(data, "attempts")
        tried = _mapping(data, "tried")
        for key, ids in tried.items():
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValueError(f"tried[{key!r}] is not a list of strings")
        child = data.get("child")
        return cls(
            attempts={k: _count(v, f"attempts[{k!r}]") for k, v in attempts.items()},
            restarts=_count(data.get("restarts", 0), "restarts"),
            tried={k: list(v) for k, v in tried.items()},
            fallback_uses=_count(data.get("fallback_uses", 0), "fallback_uses"),
            child=None if child is None else _child(child),
            marks={k: _numbers(v, f"marks[{k!r}]") for k, v in _mapping(data, "marks").items()},
            best=_numbers(data.get("best", []), "best"),
            no_progress=_count(data.get("no_progress", 0), "no_progress"),
            command={k: _text(v, f"command[{k!r}]") for k, v in _mapping(data, "command").items()},
        )


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not an object")
    return value


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} is not a count: {str(value)[:40]}")
    return value


def _numbers(value: object, what: str) -> list[float]:
    ok = isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value
    )
    if not ok:
        raise ValueError(f"{what} is not a list of numbers")
    assert isinstance(value, list)
    return [float(x) for x in value]


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    return value


def _child(value: object) -> ChildRecord:
    if not isinstance(value, dict) or set(value) - {
        "pid",
        "pgid",
        "create_time",
        "command",
        "mark",
    }:
        raise ValueError("child is not a process record")
    pid, pgid, ctime = value.get("pid"), value.get("pgid"), value.get("create_time")
    command, mark = value.get("command"), value.get("mark", "")
    for name, n in (("pid", pid), ("pgid", pgid)):
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n < 1 << 31:
            raise ValueError(f"child.{name} is not a process id: {str(n)[:40]}")
    if isinstance(ctime, bool) or not isinstance(ctime, int | float) or not math.isfinite(ctime):
        raise ValueError(f"child.create_time is not a time: {str(ctime)[:40]}")
    if not isinstance(command, str) or not isinstance(mark, str):
        raise ValueError("child.command or child.mark is not a string")
    assert isinstance(pid, int) and isinstance(pgid, int)
    return ChildRecord(pid=pid, pgid=pgid, create_time=float(ctime), command=command, mark=mark)


class StateStore:
    """Loads and atomically saves the ledger."""

    def __init__(
        self, state_dir: Path, *, redact: Callable[[str], str] = lambda text: text
    ) -> None:
        self.path = state_dir / "state.json"
        self._redact = redact

    def load(self) -> tuple[Ledger, str]:
        """The ledger, and a note when a damaged file had to be set aside ('' otherwise)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Ledger(), ""
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            return Ledger.from_json(json.loads(raw.decode("utf-8"))), ""
        except (ValueError, RecursionError) as exc:  # JSON, UTF-8 and shape errors
            return Ledger(), self._set_aside(str(exc)[:200])

    def _set_aside(self, why: str) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        aside = self.path.with_name(f"state.json.damaged-{stamp}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            return (
                f"state.json is damaged ({why}) and could not be set aside ({exc}); starting fresh"
            )
        return f"state.json was damaged ({why}); kept as {aside.name}, starting fresh"

    def save(self, ledger: Ledger) -> None:
        tmp = self.path.with_name("state.json.tmp")
        data = ledger.to_json()
        if ledger.child is not None:
            data["child"]["command"] = self._redact(ledger.child.command)
        try:
            with open(tmp, "w", encoding="utf-8", opener=_private) as fh:
                json.dump(data, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def clear_budgets(self) -> None:
        """What ``phoenix reset`` and a clean completion do; the child record is kept."""
        ledger, _ = self.load()
        self.save(Ledger(child=ledger.child))


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
