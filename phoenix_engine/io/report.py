"""The picture of a night: ``phoenix report`` and the image the last Discord message carries.

Drawn with matplotlib's object API (``Figure`` + the Agg canvas: no pyplot state, no display,
safe in a worker thread), an optional extra: without it :func:`render` raises
:class:`~phoenix_engine.errors.ReportError` saying how to install it. Three panels share the
wall-clock axis: the loss (the step on the right axis, so restarts that go back show), GPU
temperature and power, GPU utilisation and VRAM. Failures, restarts, repairs, hangs, guard
trips and the end are marked across all three with their kind.
"""

from __future__ import annotations

__all__ = ["INSTALL_HINT", "Marker", "markers", "render", "render_last"]

import importlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.core.history import PastRun
from phoenix_engine.core.run_state import duration
from phoenix_engine.errors import ReportError
from phoenix_engine.io.recorded import Recorded, load_runs, read_metrics

INSTALL_HINT = "pip install 'phoenix-supervisor[report]' (or: pip install matplotlib)"


def _load_matplotlib() -> tuple[Any, Any]:
    """(matplotlib.figure, matplotlib.backends.backend_agg); the seam tests replace."""
    figure = importlib.import_module("matplotlib.figure")
    agg = importlib.import_module("matplotlib.backends.backend_agg")
    return figure, agg


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker:
    ts: float
    label: str
    colour: str


def markers(events: list[ev.Event]) -> list[Marker]:
    """What the picture marks, from a run's journaled events."""
    out: list[Marker] = []
    for e in events:
        if isinstance(e, ev.Failure):
            out.append(Marker(ts=e.ts, label=f"failure: {e.kind}", colour="tab:red"))
        elif isinstance(e, ev.HangDetected):
            out.append(Marker(ts=e.ts, label="hang", colour="tab:red"))
        elif isinstance(e, ev.Restarting):
            out.append(Marker(ts=e.ts, label="restart", colour="tab:orange"))
        elif isinstance(e, ev.PatchApplied) and not e.dry_run:
            out.append(Marker(ts=e.ts, label=f"repair {e.id[:8]}", colour="tab:green"))
        elif isinstance(e, ev.GuardTripped):
            out.append(Marker(ts=e.ts, label=f"guard: {e.guard}", colour="tab:purple"))
        elif isinstance(e, ev.Anomaly) and e.kind == "nan":
            out.append(Marker(ts=e.ts, label="NaN loss", colour="tab:red"))
        elif isinstance(e, ev.RunCompleted | ev.GaveUp | ev.Stopped):
            label = {"run_completed": "completed", "gave_up": "gave up"}.get(e.name, e.name)
            out.append(Marker(ts=e.ts, label=label, colour="black"))
    return out


def render(
    run: PastRun,
    recorded: Recorded,
    *,
    fmt: str = "png",
    title: str = "",
    load: Callable[[], tuple[Any, Any]] = _load_matplotlib,
) -> bytes:
    """The night as a PNG (or SVG) image."""
    try:
        figure_mod, agg = load()
    except ImportError as exc:
        raise ReportError(f"the report needs matplotlib: {INSTALL_HINT}") from exc
    fig = figure_mod.Figure(figsize=(11, 7.5), dpi=100, layout="constrained")
    agg.FigureCanvasAgg(fig)
    loss_ax, heat_ax, load_ax = fig.subplots(3, 1, sharex=True, height_ratios=(3, 1.6, 1.6))
    took = f", {duration(run.duration_s)}" if run.duration_s is not None else ""
    fig.suptitle(f"{title or 'Phoenix'} · run {run.run_id} · {run.outcome}{took}")
    _loss_panel(loss_ax, recorded)
    _gpu_panels(heat_ax, load_ax, recorded)
    _mark(fig, (loss_ax, heat_ax, load_ax), markers(run.events), run)
    load_ax.set_xlabel("wall-clock time (local)")
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    return out.getvalue()


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts)


def _loss_panel(ax: Any, recorded: Recorded) -> None:
    points = [p for p in recorded.train if p.loss is not None]
    ax.set_ylabel("loss")
    if not points:
        ax.text(0.5, 0.5, "no loss recorded", transform=ax.transAxes, ha="center", color="grey")
        return
    finite = [p for p in points if p.loss is not None and math.isfinite(p.loss)]
    ax.plot([_when(p.ts) for p in finite], [p.loss for p in finite], color="tab:blue", lw=1.2)
    bad = [p for p in points if p.loss is not None and not math.isfinite(p.loss)]
    if bad:
        top = max((p.loss or 0.0 for p in finite), default=1.0)
        ax.scatter([_when(p.ts) for p in bad], [top] * len(bad), marker="x", color="tab:red")
    ax.grid(alpha=0.3)
    steps = [p for p in recorded.train if p.step is not None]
    if steps:
        right = ax.twinx()
        right.plot([_when(p.ts) for p in steps], [p.step for p in steps], color="grey", lw=0.8)
        right.set_ylabel("step", color="grey")
        right.tick_params(axis="y", colors="grey")


def _gpu_panels(heat_ax: Any, load_ax: Any, recorded: Recorded) -> None:
    heat_ax.set_ylabel("°C")
    load_ax.set_ylabel("%")
    load_ax.set_ylim(0, 105)
    if not recorded.gpu:
        for ax in (heat_ax, load_ax):
            ax.text(0.5, 0.5, "no GPU samples", transform=ax.transAxes, ha="center", color="grey")
        return
    power_ax = heat_ax.twinx()
    power_ax.set_ylabel("W", color="tab:olive")
    for index in sorted({p.index for p in recorded.gpu}):
        rows = [p for p in recorded.gpu if p.index == index]
        times = [_when(p.ts) for p in rows]
        tag = f"GPU{index} "
        dots = {"marker": ".", "ms": 5}  # one sample per 30 s: a short run may have one
        temps = [p.temp_c for p in rows]
        heat_ax.plot(times, temps, color="tab:red", label=tag + "temperature", **dots)
        power = [p.power_w for p in rows]
        power_ax.plot(times, power, color="tab:olive", ls="--", label=tag + "power", **dots)
        util = [p.util_pct for p in rows]
        load_ax.plot(times, util, color="tab:cyan", label=tag + "util", **dots)
        vram = [
            100 * p.mem_used_mb / p.mem_total_mb
            if p.mem_used_mb is not None and p.mem_total_mb
            else None
            for p in rows
        ]
        load_ax.plot(times, vram, color="tab:brown", label=tag + "VRAM", **dots)
    heat_ax.legend(loc="upper left", fontsize="small")
    power_ax.legend(loc="upper right", fontsize="small")
    load_ax.legend(loc="upper left", fontsize="small", ncols=2)
    for ax in (heat_ax, load_ax):
        ax.grid(alpha=0.3)


def _mark(fig: Any, axes: tuple[Any, ...], marks: list[Marker], run: PastRun) -> None:
    start = _when(run.started_at)
    for ax in axes:
        ax.axvline(start, color="grey", ls=":", lw=0.8)
    top = axes[0]
    for i, m in enumerate(marks):
        at = _when(m.ts)
        for ax in axes:
            ax.axvline(at, color=m.colour, ls="--", lw=0.9, alpha=0.8)
        # Stagger the labels over four heights so that close events stay readable; the last
        # one (the end) reads leftwards, away from the step axis.
        y = 0.97 - 0.08 * (i % 4)
        last = i == len(marks) - 1
        top.text(
            at, y, f" {m.label} " , transform=top.get_xaxis_transform(), color=m.colour,
            fontsize="small", va="top", ha="right" if last else "left",
        )  # fmt: skip
    fig.autofmt_xdate()


def render_last(state_dir: Path, *, title: str = "", fmt: str = "png") -> bytes:
    """The newest run's picture (for the final Discord message)."""
    runs = load_runs(state_dir)
    if not runs:
        raise ReportError("the journal records no run yet")
    run = runs[-1]
    return render(run, read_metrics(state_dir, run.started_at, run.ended_at), fmt=fmt, title=title)
