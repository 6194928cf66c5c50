"""Reading back what runs left in ``.phoenix_cli/``: the journal as events, metrics.jsonl as rows.

Both files rotate (``run.log.1``, ``run.log.2``...): they are read oldest first as one stream.
A line that is not JSON, or a record of an event this version does not know, is skipped: a
journal written by an older or newer Phoenix still reads. Pure apart from reading the files.
:func:`load_runs` hands both to the fold in :mod:`phoenix_engine.core.history`.
"""

from __future__ import annotations

__all__ = [
    "GpuPoint",
    "Recorded",
    "TrainPoint",
    "event_from_record",
    "load_runs",
    "read_journal",
    "read_metrics",
    "rotated",
]

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine._event_rebuild import BadEventRecord, rebuild_event
from phoenix_engine.core.history import PastRun, split_runs
from phoenix_engine.io.metrics_log import FILE_NAME as METRICS_FILE

_GPU_FIELDS = ("temp_c", "util_pct", "power_w", "power_limit_w", "mem_used_mb", "mem_total_mb")


def rotated(path: Path, keep: int = 9) -> list[Path]:
    """``path`` and its rotated copies that exist, oldest first."""
    older = [path.with_name(f"{path.name}.{i}") for i in range(keep, 0, -1)]
    return [p for p in [*older, path] if p.is_file()]


def _lines(path: Path) -> list[str]:
    out: list[str] = []
    for part in rotated(path):
        try:
            out += part.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    return out


def event_from_record(record: dict[str, Any]) -> ev.Event | None:
    """The event a journal line records, or None for a line this version cannot rebuild
    (hand-edited or damaged: better left out than folded wrongly)."""
    try:
        ts = datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00")).timestamp()
        return rebuild_event({**record, "ts": ts})
    except (KeyError, ValueError, BadEventRecord):
        return None


def read_journal(state_dir: Path) -> list[ev.Event]:
    """Every event the journal (with its rotated parts) still holds, oldest first."""
    events: list[ev.Event] = []
    for line in _lines(state_dir / "run.log"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = event_from_record(record) if isinstance(record, dict) else None
        if event is not None:
            events.append(event)
    return events


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainPoint:
    ts: float
    step: int | None
    total: int | None
    loss: float | None  # nan/inf as floats
    lr: float | None
    grad_norm: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuPoint:
    ts: float
    index: int
    name: str
    temp_c: float | None
    util_pct: float | None
    power_w: float | None
    power_limit_w: float | None
    mem_used_mb: float | None
    mem_total_mb: float | None


@dataclass(slots=True, kw_only=True)
class Recorded:
    """The rows of metrics.jsonl between two moments, by type, oldest first."""

    train: list[TrainPoint] = field(default_factory=list)
    gpu: list[GpuPoint] = field(default_factory=list)
    host: list[dict[str, Any]] = field(default_factory=list)
    marks: list[tuple[float, int]] = field(default_factory=list)  # (ts, train.log bytes)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) or isinstance(value, str) else None


def read_metrics(state_dir: Path, start: float, end: float | None = None) -> Recorded:
    """metrics.jsonl rows with ``start <= ts <= end`` (no end: to the last row)."""
    out = Recorded()
    for line in _lines(state_dir / METRICS_FILE):
        try:
            row = json.loads(line)
            ts = float(row["ts"])
        except (ValueError, KeyError, TypeError):
            continue
        if ts < start or (end is not None and ts > end):
            continue
        _add(out, row, ts)
    return out


def _add(out: Recorded, row: dict[str, Any], ts: float) -> None:
    kind = row.get("type")
    if kind == "train":
        step = row.get("step")
        out.train.append(
            TrainPoint(
                ts=ts,
                step=step if isinstance(step, int) else None,
                total=row["total"] if isinstance(row.get("total"), int) else None,
                loss=_float(row.get("loss")),
                lr=_float(row.get("lr")),
                grad_norm=_float(row.get("grad_norm")),
            )
        )
    elif kind == "gpu" and isinstance(row.get("gpus"), list):
        for g in row["gpus"]:
            if isinstance(g, dict) and isinstance(g.get("index"), int):
                values = {k: _float(g.get(k)) for k in _GPU_FIELDS}
                name = str(g.get("name", ""))
                out.gpu.append(GpuPoint(ts=ts, index=g["index"], name=name, **values))
    elif kind == "host":
        out.host.append(row)
    elif kind == "mark" and isinstance(row.get("log"), int):
        out.marks.append((ts, row["log"]))


def load_runs(state_dir: Path, *, engine_running: bool = False) -> list[PastRun]:
    """Every run the journal still holds, the last one's metrics folded in too."""
    runs = split_runs(read_journal(state_dir), engine_running=engine_running)
    for run in runs:
        run.state_dir = state_dir
    if runs:
        last = runs[-1]
        recorded = read_metrics(state_dir, last.started_at, last.ended_at)
        for point in recorded.train[-1:]:
            sample = ev.MetricSample(
                ts=point.ts, step=point.step, total_steps=point.total, loss=point.loss, lr=point.lr
            )
            last.view.apply(sample)
    return runs
