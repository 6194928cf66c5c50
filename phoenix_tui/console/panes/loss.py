"""The loss pane: a sparkline of recent finite losses, the latest step, loss, lr and rate.

Textual's Sparkline raises on NaN and inf, so only finite values ever reach it (the
:class:`LossModel` filters them); a non-finite loss is shown as a red divergence marker with
the step it happened at.
"""

from __future__ import annotations

__all__ = ["LossPane", "metrics_text"]

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from phoenix_engine import events as ev
from phoenix_tui.console.view_model import LossModel


def _g(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def metrics_text(sample: ev.MetricSample | None) -> Text:
    if sample is None:
        return Text("no loss reported yet", style="dim")
    step = _g(sample.step, "d")
    if sample.total_steps:
        step += f"/{sample.total_steps}"
    text = Text()
    text.append("step ", style="dim").append(step, style="bold")
    text.append("  loss ", style="dim").append(_g(sample.loss, ".4g"), style="bold")
    text.append("\nlr ", style="dim").append(_g(sample.lr, ".1e"))
    if sample.rate is not None:
        text.append(f"  {sample.rate:.4g}/s", style="dim")
    return text


class LossPane(Vertical):
    DEFAULT_CSS = """
    LossPane { height: auto; }
    LossPane #metrics { height: 2; }
    LossPane Sparkline { height: 2; }
    LossPane #divergence { color: $error; text-style: bold; display: none; }
    LossPane.-diverged #divergence { display: block; }
    LossPane #anomaly { color: $warning; display: none; }
    LossPane.-anomaly #anomaly { display: block; }
    """

    def __init__(self, model: LossModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self._shown = ("", "")

    def compose(self) -> ComposeResult:
        yield Static(metrics_text(None), id="metrics")
        yield Sparkline([], id="spark")
        yield Static("", id="divergence")
        yield Static("", id="anomaly")

    def show(self) -> None:
        model = self.model
        # Fixed heights: a new sample repaints two widgets, never the layout.
        self.query_one("#metrics", Static).update(metrics_text(model.last), layout=False)
        self.query_one("#spark", Sparkline).data = list(model.history)
        markers = (model.diverged, model.warning)
        if markers != self._shown:
            self._shown = markers
            self.set_class(bool(model.diverged), "-diverged")
            self.set_class(bool(model.warning), "-anomaly")
            self.query_one("#divergence", Static).update(f"▲ {model.diverged}")
            self.query_one("#anomaly", Static).update(f"△ {model.warning}")
