"""The kept telemetry of a night: ``.phoenix_cli/metrics.jsonl``, written by an event sink.

One JSON object a line, ``{"ts": seconds since the epoch, "type": ..., ...}``:

- ``train``: ``step`` (``total`` when printed), ``loss``, ``lr``, ``grad_norm`` of each
  metric sample the engine emits (every logged step, at most ten a second); a NaN or inf
  loss is written as the string ``"nan"``/``"inf"`` so the file stays strict JSON.
- ``gpu``: ``gpus`` (index, name, temp_c, util_pct, power_w, power_limit_w, mem_used_mb,
  mem_total_mb), at most one sample per ``every_s`` (30 s).
- ``host``: ``cpu_pct``, ``ram_used_gb``, ``ram_total_gb``, ``disk_free_gb``, as rarely.
- ``mark``: ``event``, ``log``: how many bytes of train.log this run had written when a
  journaled event happened, so ``phoenix review`` puts each milestone at its place in the
  training's output (train.log lines carry no timestamps). ``run_started`` marks carry ``run``.

Rotated like the other logs (``PHOENIX_LOG_MAX_BYTES``, three kept). Like the journal, a write
that fails never raises: it is reported once through ``on_error``.
"""

from __future__ import annotations

__all__ = ["MetricsLog"]

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.io.journal import OnceIn, RotatingFile

FILE_NAME = "metrics.jsonl"


def _num(value: float | None, digits: int = 6) -> float | str | None:
    if value is None:
        return None
    if not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf"
    return float(f"{value:.{digits}g}")


class MetricsLog:
    """An event sink: keeps what the picture of the night needs; never blocks, never raises."""

    def __init__(
        self,
        state_dir: Path,
        *,
        max_bytes: int,
        log_position: Callable[[], int] = lambda: 0,
        every_s: float = 30.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._path = state_dir / FILE_NAME
        self._max_bytes = max_bytes
        self._position = log_position
        self._every = every_s
        self._on_error = on_error
        self._may_report = OnceIn()
        self._file: RotatingFile | None = None
        self._closed = False
        self._last: dict[str, float] = {}  # sample type -> ts of the last one written
        self._marked = -1  # the train.log position of the last mark

    def emit(self, event: ev.Event) -> None:
        try:
            self._emit(event)
        except Exception as exc:  # never into the engine: a bad value loses one record
            self._report(f"cannot record telemetry: {exc!r}")

    def _emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted) and self._file is None and not self._closed:
            self._open()
        if self._file is None:
            return  # not started yet (a notice from set-up), or closed
        if isinstance(event, ev.MetricSample):
            self._train(event)
        elif isinstance(event, ev.GpuStatus):
            if event.gpus and self._due("gpu", event.ts):
                self._write({"ts": event.ts, "type": "gpu", "gpus": _gpus(event)})
            self._tick(event)
        elif isinstance(event, ev.HostStatus):
            if self._due("host", event.ts):
                row = {k: v for k, v in ev.event_fields(event).items() if k != "disk_path"}
                self._write({"ts": event.ts, "type": "host", **row})
            self._tick(event)
        elif event.journal:
            self._mark(event)

    def _tick(self, event: ev.Event) -> None:
        """A mark now and then between milestones: if Phoenix dies, the output it saw last
        is still placed (to within ``every_s``)."""
        if self._position() != self._marked and self._due("tick", event.ts):
            self._mark(event)

    def _train(self, e: ev.MetricSample) -> None:
        if e.loss is None and e.lr is None and e.grad_norm is None:
            return
        row: dict[str, Any] = {"ts": e.ts, "type": "train", "step": e.step}
        if e.total_steps is not None:
            row["total"] = e.total_steps
        row |= {"loss": _num(e.loss), "lr": _num(e.lr, 4), "grad_norm": _num(e.grad_norm, 4)}
        self._write(row)

    def _mark(self, event: ev.Event) -> None:
        position = self._position()
        started = isinstance(event, ev.RunStarted)
        if position == self._marked and not started:  # (a tick's name says "gpu"/"host")
            return  # the last mark already places it: the reader takes the latest mark before
        self._marked = position
        row: dict[str, Any] = {"ts": event.ts, "type": "mark", "event": event.name}
        if isinstance(event, ev.RunStarted):
            row["run"] = event.run_id
        self._write(row | {"log": position})

    def _due(self, kind: str, ts: float) -> bool:
        if ts - self._last.get(kind, float("-inf")) < self._every:
            return False
        self._last[kind] = ts
        return True

    def _open(self) -> None:
        try:
            self._file = RotatingFile(self._path, max_bytes=self._max_bytes, keep=3)
        except OSError as exc:
            self._report(f"cannot open {self._path}: {exc.strerror or exc}")

    def _write(self, row: dict[str, Any]) -> None:
        assert self._file is not None
        # Milliseconds cut as the journal cuts them, so a mark's time equals its event's there.
        row["ts"] = math.floor(round(row["ts"], 6) * 1000) / 1000
        line = json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n"
        try:
            self._file.write(line.encode())
        except OSError as exc:
            self._report(f"cannot write {self._path.name}: {exc.strerror or exc}")

    def _report(self, reason: str) -> None:
        if self._on_error is not None and self._may_report():
            self._on_error(reason)

    # --- as an engine service: closed after the run's last event ------------------------------

    async def run(self) -> None:
        return None

    async def aclose(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


def _gpus(status: ev.GpuStatus) -> list[dict[str, Any]]:
    return [
        {
            "index": g.index,
            "name": g.name,
            "temp_c": _num(g.temp_c, 4),
            "util_pct": _num(g.util_pct, 4),
            "power_w": _num(g.power_w, 4),
            "power_limit_w": _num(g.power_limit_w, 4),
            "mem_used_mb": _num(g.mem_used_mb, 6),
            "mem_total_mb": _num(g.mem_total_mb, 6),
        }
        for g in status.gpus
    ]
