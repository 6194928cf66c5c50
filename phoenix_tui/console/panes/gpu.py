"""GPU gauges: temperature against PHOENIX_MAX_GPU_TEMP, VRAM, power and utilisation per GPU.

Temperature, power and utilisation are drawn as a short history (a sparkline of the last
minutes, scaled to the limit) ending in the current value; VRAM as a bar. Below them: who
holds the GPU (our training, or someone else's process) and the host's CPU, RAM and free
disk. Temperature and VRAM turn yellow and red near their limits; utilisation never does
(a busy GPU is the goal). A field the device does not report shows "n/a"; a reading older
than a few sampling intervals is dimmed and says how old it is; a machine without an NVIDIA
GPU is explained in the pane in plain words, not flagged as an error. The demo's simulated
card says so.
"""

from __future__ import annotations

__all__ = ["GpuPane", "gauge_lines", "host_lines", "spark"]

from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from phoenix_engine import events as ev
from phoenix_engine.io.host import HostReading
from phoenix_tui.console.view_model import GpuModel, duration, finite

_LABEL = 6
_TICKS = "▁▂▃▄▅▆▇█"
_CALM = "cyan"  # utilisation: high is good, so one colour whatever the value


def _level(fraction: float) -> str:
    return "green" if fraction < 0.75 else ("yellow" if fraction < 0.9 else "bold red")


def spark(values: Sequence[float], top: float, room: int) -> str:
    """The last ``room`` values as block characters from 0 to ``top``; NaN/inf are skipped."""
    kept = [v for v in values if finite(v) is not None][-room:]
    if not kept or top <= 0:
        return ""
    last = len(_TICKS) - 1
    return "".join(_TICKS[round(min(1.0, max(0.0, v / top)) * last)] for v in kept)


def _bar(
    label: str,
    value: float | None,
    top: float | None,
    shown: str,
    width: int,
    *,
    history: Sequence[float] = (),
    alarm: bool = True,
) -> Text:
    line = Text(f"{label:<{_LABEL}}")
    room = max(4, width - _LABEL - len(shown) - 1)
    value = finite(value)
    if value is None or not top:
        return line.append("·" * room, style="dim").append(" n/a")
    fraction = min(1.0, max(0.0, value / top))
    style = _level(fraction) if alarm else _CALM
    trace = spark(history, top, room)
    if len(trace) > 1:  # the recent history, right-aligned so that it ends with the newest
        line.append("·" * (room - len(trace)), style="dim").append(trace, style=style)
        return line.append(f" {shown}")
    filled = round(fraction * room)
    line.append("█" * filled, style=style)
    line.append("░" * (room - filled), style="dim")
    return line.append(f" {shown}")


def _gb(mb: float | None) -> str:
    return "?" if mb is None else f"{mb / 1024:.1f}G"


def process_line(gpu: ev.GpuReading, width: int) -> Text | None:
    """Who holds this GPU: ``ours 4312 14.0G · other 991 3.1G`` (None when nobody does)."""
    if not gpu.processes:
        return None
    line = Text(f"{'procs':<{_LABEL}}")
    ordered = sorted(gpu.processes, key=lambda p: (not p.ours, -(p.used_mb or 0)))
    for n, proc in enumerate(ordered):
        if n:
            line.append(" · ", style="dim")
        who = "ours" if proc.ours else "other"
        line.append(f"{who} {proc.pid} {_gb(proc.used_mb)}", style="" if proc.ours else "yellow")
    line.truncate(width, overflow="ellipsis")
    return line


def host_lines(host: HostReading, width: int) -> list[Text]:
    """``host  cpu 12% · ram 5.1/15G`` and ``disk  120G free`` (the fullest watched disk)."""
    line = Text(f"{'host':<{_LABEL}}")
    cpu = "n/a" if host.cpu_pct is None else f"{host.cpu_pct:.0f}%"
    line.append("cpu ", style="dim").append(cpu)
    if host.ram_used_gb is not None and host.ram_total_gb:
        ram = f"{host.ram_used_gb:.1f}/{host.ram_total_gb:.0f}G"
        line.append(" · ram ", style="dim").append(ram)
    lines = [line]
    lowest = host.lowest_disk
    if lowest is not None:
        lines.append(Text(f"{'disk':<{_LABEL}}").append(f"{lowest[1]:.0f}G free"))
    for each in lines:
        each.truncate(width, overflow="ellipsis")
    return lines


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def gauge_lines(
    gpu: ev.GpuReading, max_temp: int, width: int, model: GpuModel | None = None
) -> list[Text]:
    """The gauges of one GPU at ``width`` columns (with their history, given the model)."""

    def history(name: str) -> list[float]:
        return model.series(gpu.index, name) if model is not None else []

    gb_used = None if gpu.mem_used_mb is None else gpu.mem_used_mb / 1024
    gb_total = None if gpu.mem_total_mb is None else gpu.mem_total_mb / 1024
    title = Text(f"GPU {gpu.index} ", style="bold").append(gpu.name, style="")
    title.truncate(width, overflow="ellipsis")
    temp = f"{_num(finite(gpu.temp_c), '.0f')}/{max_temp}°C"
    power = f"{_num(finite(gpu.power_w), '.0f')}/{_num(gpu.power_limit_w, '.0f')}W"
    lines = [
        title,
        _bar("temp", gpu.temp_c, max_temp, temp, width, history=history("temp_c")),
        _bar("vram", gb_used, gb_total, f"{_num(gb_used, '.1f')}/{_num(gb_total, '.0f')}G", width),
        _bar("power", gpu.power_w, gpu.power_limit_w, power, width, history=history("power_w")),
        _bar(
            "util",
            gpu.util_pct,
            100.0,
            f"{_num(finite(gpu.util_pct), '.0f')}%",
            width,
            history=history("util_pct"),
            alarm=False,
        ),
    ]
    procs = process_line(gpu, width)
    if procs is not None:
        lines.append(procs)
    return lines


class GpuPane(Widget):
    """Renders the latest sample held by a :class:`GpuModel`."""

    DEFAULT_CSS = """
    GpuPane { height: auto; }
    GpuPane.-stale { text-opacity: 55%; }
    """

    def __init__(self, model: GpuModel, *, max_temp: int, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.max_temp = max_temp
        self.now = 0.0
        self._shape: tuple[object, ...] = ()

    def show(self, now: float) -> None:
        self.now = now
        status = self.model.status
        stale = self.model.stale(now)
        self.set_class(stale, "-stale")
        source = status.source if status is not None else ""
        self.border_title = "GPU · simulated" if source == "simulated" else "GPU"
        gpus = status.gpus if status else ()
        shape = (
            source,
            tuple(bool(g.processes) for g in gpus),
            stale,
            status.reason if status else "",
            self.model.host is not None,
        )
        self.refresh(layout=shape != self._shape)  # a layout pass only when the height may change
        self._shape = shape

    def render(self) -> RenderResult:
        status = self.model.status
        width = max(20, self.content_size.width)
        host = self.model.host
        if status is None:
            text = Text("waiting for the first reading…", style="dim")
        elif status.source == "none" or not status.gpus:
            text = Text("no NVIDIA GPU", style="bold")
            if status.reason:
                text.append(f"\n{status.reason}", style="dim")
        else:
            lines: list[Text] = []
            for gpu in status.gpus:
                lines.extend(gauge_lines(gpu, self.max_temp, width, self.model))
            if self.model.stale(self.now):
                lines.append(Text(f"stale: last reading {duration(self.model.age(self.now))} ago"))
            text = Text("\n").join(lines)
        if host is not None:
            for line in host_lines(host, width):
                text.append("\n").append_text(line)
        return text
