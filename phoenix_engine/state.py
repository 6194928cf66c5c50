"""``.phoenix_cli/state.json``: the budgets and the running child, across Phoenix restarts.

A Phoenix restarted by systemd continues the same budgets instead of starting over; a clean
completion or ``phoenix reset`` clears them. The running child's PID and start time let the
next Phoenix recognise (and stop) a training left behind by one that was killed -9.
"""

from __future__ import annotations

__all__ = ["ChildRecord", "Ledger", "StateStore"]

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phoenix_engine.errors import StateError

_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildRecord:
    pid: int
    pgid: int
    create_time: float
    command: str


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
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        child = data.get("child")
        return cls(
            attempts={str(k): int(v) for k, v in dict(data.get("attempts", {})).items()},
            restarts=int(data.get("restarts", 0)),
            tried={str(k): [str(i) for i in v] for k, v in dict(data.get("tried", {})).items()},
            fallback_uses=int(data.get("fallback_uses", 0)),
            child=ChildRecord(**child) if isinstance(child, dict) else None,
            marks={str(k): [float(x) for x in v] for k, v in dict(data.get("marks", {})).items()},
            best=[float(x) for x in data.get("best", [])],
            no_progress=int(data.get("no_progress", 0)),
            command={str(k): str(v) for k, v in dict(data.get("command", {})).items()},
        )


class StateStore:
    """Loads and atomically saves the ledger."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "state.json"

    def load(self) -> tuple[Ledger, str]:
        """The ledger, and a note when a damaged file had to be set aside ('' otherwise)."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Ledger(), ""
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            return Ledger.from_json(json.loads(raw)), ""
        except (ValueError, TypeError, AttributeError) as exc:
            aside = self.path.with_name("state.json.corrupt")
            os.replace(self.path, aside)
            return (
                Ledger(),
                f"state.json was unreadable ({exc}); kept as {aside.name}, starting fresh",
            )

    def save(self, ledger: Ledger) -> None:
        tmp = self.path.with_name("state.json.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(ledger.to_json(), fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def clear_budgets(self) -> None:
        """What ``phoenix reset`` and a clean completion do; the child record is kept."""
        ledger, _ = self.load()
        self.save(Ledger(child=ledger.child))
