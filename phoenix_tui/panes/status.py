"""The status bar: phase, attempt n/N for the current failure, restarts, provider, uptime.

Readable without colour: the phase is a word with its own symbol, so NO_COLOR loses nothing.
"""

from __future__ import annotations

__all__ = ["StatusBar", "status_text"]

from rich.text import Text
from textual.widgets import Static

from phoenix_tui._model import Phase, RunModel, duration

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
    model: RunModel, *, uptime: float, project: str, note: str = "", compact: bool = False
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
    labels = ("try", "restarts", "", "up") if compact else ("attempt", "restarts", "provider", "up")
    values = (
        f"{model.attempt}/{model.max_attempts}",
        f"{model.restarts_used}/{model.max_restarts}",
        model.provider or "no provider",
        duration(uptime),
    )
    for label, value in zip(labels, values, strict=True):
        text.append(f"  {label}{' ' if label else ''}", style="dim").append(value)
    if project:
        text.append(f"  {project}", style="dim")
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; background: $panel; }
    """
