"""The status text of a run's state (:class:`~phoenix_engine.core.run_state.RunView`): the
lines ``!status``, ``phoenix status`` and an attached console's ``status`` print, the training
line, the GPU line, short human durations and the journal's UTC timestamps. Pure: text from
state, nothing else.
"""

from __future__ import annotations

__all__ = ["duration", "gpu_text", "iso_utc", "summary_text", "training_line"]

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from phoenix_engine import events as ev

if TYPE_CHECKING:  # the reducer imports this module for its summary()
    from phoenix_engine.core.run_state import RunView


def summary_text(view: RunView, now: float | None = None) -> str:
    """A few plain lines for ``!status`` and ``phoenix status``."""
    head = f"phase: {view.phase}"
    if view.final_reason:
        head += f" ({view.final_reason})"
    retries = f"{view.attempt}/{view.max_attempts}" if view.max_attempts else f"{view.attempt}"
    lines = [head, f"restarts: {view.restarts_used}/{view.max_restarts}, attempt {retries}"]
    lines.append(training_line(view))
    if view.heartbeat:
        lines.append(f"hang limit: {view.heartbeat}")
    lines.append("gpu: " + gpu_text(view.gpu))
    if view.failure is not None:
        f = view.failure
        lines.append(f"last failure: {f.kind}: {f.summary} [{f.signature[:12]}]")
        if f.advice:
            lines.append(f"action: {f.action}: {f.advice}")
    if view.provider:
        lines.append(f"provider: {view.provider}")
    for guard in view.guards.values():
        lines.append(f"guard {guard.guard}: {guard.reading:g} over {guard.limit:g}")
    if view.anomaly is not None:
        lines.append(f"anomaly: {view.anomaly.kind} at step {view.anomaly.step}")
    if view.evaluating:
        lines.append(f"evaluating {view.evaluating} (PHOENIX_EVAL_CMD)")
    if view.model:
        lines.append(f"model in service: {view.model}")
    if view.pending:
        lines.append("waiting for approval: " + ", ".join(view.pending))
    if now is not None and view.started_at is not None:
        lines.append(f"up {duration(now - view.started_at)}")
    return "\n".join(lines)


def training_line(view: RunView) -> str:
    if view.step is None and view.loss is None:
        return "training: no step or loss seen yet"
    step = "?" if view.step is None else str(view.step)
    if view.total:
        step += f"/{view.total}"
    lr = f", lr {view.lr:.3g}" if view.lr is not None else ""
    eta = f", eta {duration(view.eta_s)}" if view.eta_s is not None and view.total else ""
    again = f" (step count restarted {view.segment}x)" if view.segment else ""
    return f"step {step}, loss {view.loss_text()}{lr}{eta}{again}"


def gpu_text(status: ev.GpuStatus | None) -> str:
    """One line per the latest GPU sample; a field the device does not report is left out."""
    if status is None:
        return "no sample yet"
    if not status.gpus:
        return f"none ({status.reason})" if status.reason else "none"
    parts = []
    for g in status.gpus:
        bits = [f"{g.index}:{g.name}"]
        if g.temp_c is not None:
            bits.append(f"{g.temp_c:.0f}C")
        if g.mem_used_mb is not None and g.mem_total_mb:
            bits.append(f"{g.mem_used_mb / 1024:.1f}/{g.mem_total_mb / 1024:.1f} GB")
        if g.util_pct is not None:
            bits.append(f"{g.util_pct:.0f}%")
        parts.append(" ".join(bits))
    return "; ".join(parts)


def duration(seconds: float) -> str:
    """A short human duration: 42s, 3m07s, 5h02m."""
    whole = int(max(0.0, seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, sec = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def iso_utc(ts: float) -> str:
    """``2026-11-22T03:15:02.123Z``: the journal's timestamps and ``phoenix status --json``'s."""
    stamp = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
