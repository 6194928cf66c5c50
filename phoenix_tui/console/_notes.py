"""What the status bar and the detail pane say about where the run stands: pure, table-tested.

The status bar's note (the keys that answer a waiting patch, a tripped guard, how far a
graceful stop has escalated, why the run ended and that ``u`` resumes it) and the detail
pane's block about a failure being recovered from or an ended run (the kind and action, the
reason, what to do, how to resume).
"""

from __future__ import annotations

__all__ = ["escalation", "run_note", "status_note"]

import math

from rich.text import Text

from phoenix_tui.console.view_model import Phase, RunModel


def escalation(grace: float, waited: float) -> str:
    """Where a graceful stop is: SIGINT sent, then SIGTERM and SIGKILL ``grace`` apart."""
    if waited < grace:
        step = f"SIGTERM in {math.ceil(grace - waited)}s"
    elif waited < 2 * grace:
        step = f"SIGKILL in {math.ceil(2 * grace - waited)}s"
    else:
        step = "killing"
    return f"SIGINT sent · {step} · q kills now"


def status_note(
    model: RunModel,
    *,
    countdown: str = "",
    compact: bool = False,
    holding: bool = False,
    grace: float = 0.0,
    stopping_for: float = 0.0,
) -> str:
    """The bold words after the phase in the status bar ("" when all is well)."""
    if model.awaiting:
        return countdown + ("a/r" if compact else "a accept · r reject")
    if model.phase is Phase.GUARDED:
        return model.guard_note()
    if model.phase is Phase.STOPPING:
        return escalation(grace, stopping_for)
    if model.phase in (Phase.GAVE_UP, Phase.STOPPED) and model.final_reason:
        return model.final_reason + (" · u resumes" if holding else "")
    if model.phase is Phase.COMPLETED:
        return model.in_service  # which model is in service after the evaluation, if any
    return ""


def run_note(model: RunModel, *, holding: bool = False) -> Text | None:
    """Why the run ended (and what to do), or, while Phoenix recovers from a failure, what
    kind it was, what Phoenix does about it and the advice, above whatever the detail shows."""
    if model.phase in (Phase.FAILED, Phase.RESTARTING) and model.triage:
        text = Text().append(f"{model.phase}: ", style="bold").append(model.triage, style="bold")
        if model.advice:
            text.append("\nwhat to do: ", style="bold").append(model.advice)
        return text
    if model.phase not in (Phase.GAVE_UP, Phase.STOPPED) or not model.final_reason:
        return None
    style = "bold red" if model.phase is Phase.GAVE_UP else "bold"
    text = Text().append(f"{model.phase}: ", style=style)
    text.append(model.final_reason, style=style)
    if model.advice:
        text.append("\nwhat to do: ", style="bold").append(model.advice)
    if holding:
        text.append("\nu resumes the training (budgets cleared)", style="bold")
    return text
