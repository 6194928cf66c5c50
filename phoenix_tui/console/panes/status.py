"""The status bar: phase, attempt n/N for the current failure, restarts, provider, run age.

Readable without colour: the phase is a word with its own symbol, so NO_COLOR loses nothing.
It follows the run: no "attempt" while nothing failed, the reason once it gave up or stopped.
"""

from __future__ import annotations

__all__ = ["StatusBar", "status_text"]

from rich.text import Text
from textual.widgets import Static

from phoenix_tui.console.view_model import Phase, RunModel, duration

_LOOK: dict[Phase, tuple[str, str]] = {
    Phase.STARTING: ("○", "bold"),
    Phase.RUNNING: ("●", "bold green"),
    Phase.HUNG: ("‼", "bold black on yellow"),
    Phase.FAILED: ("✗", "bold red"),
    Phase.DIAGNOSING: ("?", "bold cyan"),
    Phase.VALIDATING: ("…", "bold cyan"),
    Phase.AWAITING: ("◆", "bold white on magenta"),
    Phase.RESTARTING: ("↻", "bold yellow"),
    Phase.GUARDED: ("‼", "bold white on red"),
    Phase.STOPPING: ("■", "bold yellow"),
    Phase.STOPPED: ("■", "bold"),
    Phase.GAVE_UP: ("✗", "bold white on red"),
    Phase.COMPLETED: ("✔", "bold black on green"),
}


_TRIAGED = (Phase.FAILED, Phase.RESTARTING, Phase.GAVE_UP)


def status_text(
    model: RunModel,
    *,
    uptime: float,
    project: str,
    note: str = "",
    compact: bool = False,
    width: int | None = None,
) -> Text:
    """The one status line; ``compact`` (narrow terminals) uses short labels."""
    icon, style = _LOOK[model.phase]
    text = Text()
    text.append(f" {icon} {model.phase}{'…' if model.phase is Phase.STOPPING else ''} ", style)
    if note:
        text.append(f" {note}", style="bold")
    if model.triage and model.phase in _TRIAGED:  # what failed and what Phoenix does about it
        text.append(f" {model.triage}", style="bold")
        if model.advice and not compact:
            text.append(f" {model.advice}", style="dim")
    fields: list[tuple[str, str]] = []
    if model.attempt > 0:  # a repair is or was under way; a healthy run has no attempt 0/3
        fields.append(("try" if compact else "attempt", f"{model.attempt}/{model.max_attempts}"))
    fields.append(("restarts", f"{model.restarts_used}/{model.max_restarts}"))
    fields.append(("" if compact else "provider", model.provider or "no provider"))
    fields.append(("up", duration(uptime)))
    for label, value in fields:
        text.append(f"  {label}{' ' if label else ''}", style="dim").append(value)
    if project and (width is None or text.cell_len + len(project) + 2 <= width):
        text.append(f"  {project}", style="dim")  # the first to go when the row is full
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; background: $panel; }
    """
