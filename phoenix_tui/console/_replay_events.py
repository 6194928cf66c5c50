"""A finished run as the events the console would have seen, read from what it recorded.

The journal gives the events; train.log the output (cut to this run's part by the byte
marks metrics.jsonl keeps, rotated files included); metrics.jsonl the loss (thinned to what
the sparkline holds, first to last), the GPU and the host samples. The output lines are put
between the events where the marks say the run had written them.
"""

from __future__ import annotations

__all__ = ["replay_events", "run_slice"]

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.core.history import PastRun
from phoenix_engine.io.recorded import Recorded, TrainPoint, read_metrics, rotated

_LOSS_POINTS = 240  # what the console's loss sparkline keeps


def run_slice(state_dir: Path, runs: list[PastRun], run: PastRun) -> tuple[bytes, bool, int]:
    """This run's part of train.log (with its rotated files), whether it was placed, and how
    many of its first bytes were rotated away.

    Each run's size in train.log is its last mark; the runs after this one sit at the end of
    the file. Without marks (a journal from before metrics.jsonl) the whole log is returned,
    unplaced.
    """
    data = b"".join(_read(p) for p in rotated(state_dir / "train.log"))
    later = runs[runs.index(run) :]
    marks = read_metrics(state_dir, run.started_at).marks
    sizes = []
    for i, r in enumerate(later):
        end = later[i + 1].started_at if i + 1 < len(later) else float("inf")
        own = [size for ts, size in marks if r.started_at <= ts < end]
        if not own:
            return data, False, 0
        sizes.append(max(own))
    stop = max(0, len(data) - sum(sizes[1:]))
    start = stop - sizes[0]
    return data[max(0, start) : stop], True, max(0, -start)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _thin(points: list[TrainPoint], keep: int) -> list[TrainPoint]:
    if len(points) <= keep:
        return points
    every = len(points) / keep
    return [points[int(i * every)] for i in range(keep - 1)] + [points[-1]]


def replay_events(
    run: PastRun, recorded: Recorded, output: bytes, skipped: int = 0
) -> Iterator[ev.Event]:
    """The run as the console would have seen it: output lines between the events, in order.

    ``skipped``: bytes of the run's output no longer in train.log (rotated away), which the
    marks still count."""
    timed: list[ev.Event] = list(run.events)
    for p in _thin(recorded.train, _LOSS_POINTS):
        timed.append(
            ev.MetricSample(ts=p.ts, step=p.step, loss=p.loss, lr=p.lr, grad_norm=p.grad_norm)
        )
    by_ts: dict[float, list[ev.GpuReading]] = {}
    for g in recorded.gpu:
        reading = ev.GpuReading(
            index=g.index, name=g.name, temp_c=g.temp_c, util_pct=g.util_pct, power_w=g.power_w,
            power_limit_w=g.power_limit_w, mem_used_mb=g.mem_used_mb, mem_total_mb=g.mem_total_mb,
        )  # fmt: skip
        by_ts.setdefault(g.ts, []).append(reading)
    timed += [ev.GpuStatus(ts=ts, source="recorded", gpus=tuple(gs)) for ts, gs in by_ts.items()]
    timed += [_host(row) for row in recorded.host]
    timed.sort(key=lambda e: e.ts)  # stable: the journal's order among equal times
    lines = output.decode("utf-8", "replace").splitlines()
    marks = sorted((ts, max(0, size - skipped)) for ts, size in recorded.marks)
    done = line_at = 0  # bytes and lines of output already given
    offsets = _line_ends(output)
    mark_i, position = 0, 0
    for event in timed:
        while mark_i < len(marks) and marks[mark_i][0] <= event.ts + 1e-6:
            position = marks[mark_i][1]
            mark_i += 1
        if marks and position > done:
            upto = _lines_before(offsets, position, line_at)
            if upto > line_at:
                yield ev.OutputLines(ts=event.ts, stream="stdout", lines=tuple(lines[line_at:upto]))
            line_at, done = upto, position
        yield event
    if line_at < len(lines):
        yield ev.OutputLines(ts=run.ended_at or 0.0, stream="stdout", lines=tuple(lines[line_at:]))


def _host(row: dict[str, Any]) -> ev.HostStatus:
    def number(key: str) -> float | None:
        value = row.get(key)
        return float(value) if isinstance(value, int | float) else None

    return ev.HostStatus(
        ts=float(row["ts"]),  # read_metrics keeps only rows with a time
        cpu_pct=number("cpu_pct"),
        ram_used_gb=number("ram_used_gb"),
        ram_total_gb=number("ram_total_gb"),
        disk_free_gb=number("disk_free_gb"),
    )


def _line_ends(data: bytes) -> list[int]:
    """The byte offset just past each line's end."""
    ends, at = [], data.find(b"\n")
    while at >= 0:
        ends.append(at + 1)
        at = data.find(b"\n", at + 1)
    if data and not data.endswith(b"\n"):
        ends.append(len(data))
    return ends


def _lines_before(ends: list[int], position: int, start: int) -> int:
    """How many whole lines end at or before ``position`` (counting on from ``start``)."""
    i = start
    while i < len(ends) and ends[i] <= position:
        i += 1
    return i
