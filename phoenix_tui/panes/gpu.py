"""GPU gauges: temperature against PHOENIX_MAX_GPU_TEMP, VRAM, power and utilisation per GPU.

A field the device does not report shows "n/a"; a reading older than a few sampling
intervals is dimmed and says how old it is; a machine without an NVIDIA GPU is explained in
the pane in plain words, not flagged as an error. The demo's simulated card says so.
"""

from __future__ import annotations

__all__ = ["GpuPane", "gauge_lines"]

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from phoenix_engine import events as ev
from phoenix_tui._model import GpuModel, duration

_LABEL = 6


def _level(fraction: float) -> str:
    return "green" if fraction < 0.75 else ("yellow" if fraction < 0.9 else "bold red")


def _bar(label: str, value: float | None, top: float | None, shown: str, width: int) -> Text:
    line = Text(f"{label:<{_LABEL}}")
    room = max(4, width - _LABEL - len(shown) - 1)
    if value is None or not top:
        return line.append("·" * room, style="dim").append(" n/a")
    fraction = min(1.0, max(0.0, value / top))
    filled = round(fraction * room)
    line.append("█" * filled, style=_level(fraction))
    line.append("░" * (room - filled), style="dim")
    return line.append(f" {shown}")


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def gauge_lines(gpu: ev.GpuReading, max_temp: int, width: int) -> list[Text]:
    """The gauges of one GPU at ``width`` columns."""
    gb_used = None if gpu.mem_used_mb is None else gpu.mem_used_mb / 1024
    gb_total = None if gpu.mem_total_mb is None else gpu.mem_total_mb / 1024
    title = Text(f"GPU {gpu.index} ", style="bold").append(gpu.name, style="")
    title.truncate(width, overflow="ellipsis")
    return [
        title,
        _bar("temp", gpu.temp_c, max_temp, f"{_num(gpu.temp_c, '.0f')}/{max_temp}°C", width),
        _bar("vram", gb_used, gb_total, f"{_num(gb_used, '.1f')}/{_num(gb_total, '.0f')}G", width),
        _bar(
            "power",
            gpu.power_w,
            gpu.power_limit_w,
            f"{_num(gpu.power_w, '.0f')}/{_num(gpu.power_limit_w, '.0f')}W",
            width,
        ),
        _bar("util", gpu.util_pct, 100.0, f"{_num(gpu.util_pct, '.0f')}%", width),
    ]


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
        shape = (source, len(status.gpus) if status else 0, stale, status.reason if status else "")
        self.refresh(layout=shape != self._shape)  # a layout pass only when the height may change
        self._shape = shape

    def render(self) -> RenderResult:
        status = self.model.status
        width = max(20, self.content_size.width)
        if status is None:
            return Text("waiting for the first reading…", style="dim")
        if status.source == "none" or not status.gpus:
            text = Text("no NVIDIA GPU", style="bold")
            if status.reason:
                text.append(f"\n{status.reason}", style="dim")
            return text
        lines: list[Text] = []
        for gpu in status.gpus:
            lines.extend(gauge_lines(gpu, self.max_temp, width))
        if self.model.stale(self.now):
            lines.append(Text(f"stale: last reading {duration(self.model.age(self.now))} ago"))
        return Text("\n").join(lines)
