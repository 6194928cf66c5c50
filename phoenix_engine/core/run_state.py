"""The engine side's view of a run, folded from events: what ``!status`` and ``phoenix status`` say.

:class:`RunView` is a pure reducer (``apply(event)``, no I/O, no clock of its own): phase in the
console's words, budgets, the last failure, the active provider, training metrics, the latest
GPU sample and the patches waiting for an answer. It is an event sink too (``emit = apply``).
"""

from __future__ import annotations

__all__ = ["FINAL_PHASES", "Phase", "RunView", "duration", "gpu_text"]

import enum
from collections.abc import Callable
from typing import Any

from phoenix_engine import events as ev


class Phase(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    HUNG = "hung"
    FAILED = "failed"
    DIAGNOSING = "diagnosing"
    VALIDATING = "validating"
    AWAITING = "awaiting approval"
    RESTARTING = "restarting"
    STOPPED = "stopped"
    GAVE_UP = "gave up"
    COMPLETED = "completed"


FINAL_PHASES = frozenset({Phase.STOPPED, Phase.GAVE_UP, Phase.COMPLETED})


class RunView:
    """Everything a status line needs, as the events tell it."""

    def __init__(self, *, max_attempts: int = 0, max_restarts: int = 0) -> None:
        self.phase = Phase.STARTING
        self.attempt, self.max_attempts = 0, max_attempts
        self.restarts_used, self.max_restarts = 0, max_restarts
        self.started_at: float | None = None
        self.runs = 0  # run_started events: a resume starts another
        self.failure: ev.Failure | None = None
        self.final_reason = ""
        self.provider = ""
        self.providers: tuple[str, ...] = ()
        self.diagnosis = ""
        self.step: int | None = None
        self.total: int | None = None
        self.loss: float | str | None = None  # a float from metrics, text from progress
        self.lr: float | None = None
        self.gpu: ev.GpuStatus | None = None
        self.pending: list[str] = []  # patch ids waiting for approval, oldest first
        self.guards: dict[str, ev.GuardTripped] = {}
        self.anomaly: ev.Anomaly | None = None
        self.eta_s: float | None = None
        self.segment = 0  # how often the step count started again (a restart from scratch)
        self.heartbeat = ""  # the hang limit in force and where it comes from
        self.evaluation: ev.EvaluationFinished | None = None
        self.evaluating = ""  # the candidate under evaluation
        self.model = ""  # which model is in service after this run, and why
        self.run_id = ""
        self.ended_at: float | None = None  # when the last final event came
        self.restarts = 0  # restart events seen (``restarts_used`` also counts earlier runs')
        self.proposals: dict[str, ev.PatchProposed] = {}
        self.applied: list[ev.PatchApplied] = []

    def apply(self, event: ev.Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    emit = apply  # a RunView is an event sink: ``engine.add_sink(view)``

    # --- handlers ---------------------------------------------------------------------------

    def _run_started(self, e: ev.RunStarted) -> None:
        self.phase, self.final_reason, self.runs = Phase.STARTING, "", self.runs + 1
        self.restarts_used = e.restarts_used
        self.started_at = e.ts or self.started_at
        self.run_id, self.ended_at = e.run_id, None

    def _failure(self, e: ev.Failure) -> None:
        self.phase, self.failure, self.diagnosis = Phase.FAILED, e, ""

    def _repair(self, e: ev.RepairRequested) -> None:
        self.phase, self.attempt, self.providers = Phase.DIAGNOSING, e.attempt, e.providers
        self.provider = e.providers[0] if e.providers else ""

    def _provider_failed(self, e: ev.ProviderFailed) -> None:
        names = self.providers
        if e.provider in names and names.index(e.provider) + 1 < len(names):
            self.provider = names[names.index(e.provider) + 1]

    def _diagnosis(self, e: ev.Diagnosis) -> None:
        self.provider, self.diagnosis = e.provider, e.text

    def _proposed(self, e: ev.PatchProposed) -> None:
        self.proposals[e.id] = e
        self.phase, self.provider = Phase.VALIDATING, e.provider
        self.diagnosis = e.diagnosis or self.diagnosis

    def _approval(self, e: ev.ApprovalRequested) -> None:
        self.phase = Phase.AWAITING
        if e.id not in self.pending:
            self.pending.append(e.id)

    def _answered(self, e: ev.PatchApplied | ev.PatchRejected) -> None:
        if isinstance(e, ev.PatchApplied):
            self.applied.append(e)
        if e.id in self.pending:
            self.pending.remove(e.id)
            if self.phase is Phase.AWAITING and isinstance(e, ev.PatchRejected):
                self.phase = Phase.DIAGNOSING  # the loop asks the next provider

    def _restarting(self, e: ev.Restarting) -> None:
        self.phase, self.restarts = Phase.RESTARTING, self.restarts + 1
        self.attempt, self.max_attempts = e.attempt, e.max_attempts
        self.restarts_used, self.max_restarts = e.restarts_used, e.max_restarts

    def _final(self, phase: Phase, e: ev.Event, reason: str) -> None:
        self.phase, self.final_reason, self.ended_at = phase, reason, e.ts or None
        self.pending.clear()

    def _metrics(self, e: ev.MetricSample) -> None:
        # A line may carry only some of them: keep the last value of each.
        self.step = e.step if e.step is not None else self.step
        self.total = e.total_steps if e.total_steps is not None else self.total
        self.loss = e.loss if e.loss is not None else self.loss
        self.lr = e.lr if e.lr is not None else self.lr
        self.eta_s = e.eta_s if e.eta_s is not None else self.eta_s
        if e.segment != self.segment:
            self.segment, self.eta_s = e.segment, e.eta_s

    def _progress(self, e: ev.Progress) -> None:
        self.step, self.loss = e.step, e.loss
        self.eta_s = e.eta_s if e.eta_s is not None else self.eta_s

    def _notice(self, e: ev.Notice) -> None:
        if e.heartbeat_s is not None:
            self.heartbeat = f"{e.heartbeat_s / 60:.1f} min ({e.heartbeat_from})"

    def _guard_cleared(self, e: ev.GuardCleared) -> None:
        self.guards.pop(e.guard, None)

    def _evaluated(self, e: ev.EvaluationFinished) -> None:
        self.evaluation, self.evaluating = e, ""

    def _promoted(self, e: ev.ModelPromoted) -> None:
        score = f", score {e.score:.6g}" if e.score is not None else ""
        self.model = f"{e.path} -> {e.candidate} ({e.by}{score})"

    def _not_promoted(self, e: ev.PromotionSkipped) -> None:
        self.model = f"kept {e.in_service or 'nothing'}: {e.reason}"
        self.final_reason = f"not promoted: {e.reason}"

    # --- reading ----------------------------------------------------------------------------

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES

    def repairs(self) -> list[tuple[ev.PatchApplied, ev.PatchProposed | None]]:
        """The patches applied in this run, each with its proposal when the view saw it."""
        return [(a, self.proposals.get(a.id)) for a in self.applied]

    def loss_text(self) -> str:
        if self.loss is None:
            return "n/a"
        return self.loss if isinstance(self.loss, str) else f"{self.loss:.4g}"

    def summary(self, now: float | None = None) -> str:
        """A few plain lines for ``!status`` and ``phoenix status``."""
        head = f"phase: {self.phase}"
        if self.final_reason:
            head += f" ({self.final_reason})"
        retries = f"{self.attempt}/{self.max_attempts}" if self.max_attempts else f"{self.attempt}"
        lines = [head, f"restarts: {self.restarts_used}/{self.max_restarts}, attempt {retries}"]
        lines.append(self.training_line())
        if self.heartbeat:
            lines.append(f"hang limit: {self.heartbeat}")
        lines.append("gpu: " + gpu_text(self.gpu))
        if self.failure is not None:
            f = self.failure
            lines.append(f"last failure: {f.kind}: {f.summary} [{f.signature[:12]}]")
            if f.advice:
                lines.append(f"action: {f.action}: {f.advice}")
        if self.provider:
            lines.append(f"provider: {self.provider}")
        for guard in self.guards.values():
            lines.append(f"guard {guard.guard}: {guard.reading:g} over {guard.limit:g}")
        if self.anomaly is not None:
            lines.append(f"anomaly: {self.anomaly.kind} at step {self.anomaly.step}")
        if self.evaluating:
            lines.append(f"evaluating {self.evaluating} (PHOENIX_EVAL_CMD)")
        if self.model:
            lines.append(f"model in service: {self.model}")
        if self.pending:
            lines.append("waiting for approval: " + ", ".join(self.pending))
        if now is not None and self.started_at is not None:
            lines.append(f"up {duration(now - self.started_at)}")
        return "\n".join(lines)

    def training_line(self) -> str:
        if self.step is None and self.loss is None:
            return "training: no step or loss seen yet"
        step = "?" if self.step is None else str(self.step)
        if self.total:
            step += f"/{self.total}"
        lr = f", lr {self.lr:.3g}" if self.lr is not None else ""
        eta = f", eta {duration(self.eta_s)}" if self.eta_s is not None and self.total else ""
        again = f" (step count restarted {self.segment}x)" if self.segment else ""
        return f"step {step}, loss {self.loss_text()}{lr}{eta}{again}"


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


_HANDLERS: dict[type[ev.Event], Callable[[RunView, Any], None]] = {
    ev.RunStarted: RunView._run_started,
    ev.ProcessStarted: lambda v, e: setattr(v, "phase", Phase.RUNNING),
    ev.HangDetected: lambda v, e: setattr(v, "phase", Phase.HUNG),
    ev.Failure: RunView._failure,
    ev.RepairRequested: RunView._repair,
    ev.ProviderFailed: RunView._provider_failed,
    ev.Diagnosis: RunView._diagnosis,
    ev.PatchProposed: RunView._proposed,
    ev.ApprovalRequested: RunView._approval,
    ev.PatchApplied: RunView._answered,
    ev.PatchRejected: RunView._answered,
    ev.Restarting: RunView._restarting,
    ev.GaveUp: lambda v, e: v._final(Phase.GAVE_UP, e, e.reason),
    ev.RunCompleted: lambda v, e: v._final(Phase.COMPLETED, e, ""),
    ev.Stopped: lambda v, e: v._final(Phase.STOPPED, e, e.reason),
    ev.MetricSample: RunView._metrics,
    ev.Progress: RunView._progress,
    ev.GpuStatus: lambda v, e: setattr(v, "gpu", e),
    ev.GuardTripped: lambda v, e: v.guards.__setitem__(e.guard, e),
    ev.GuardCleared: lambda v, e: v._guard_cleared(e),
    ev.Anomaly: lambda v, e: setattr(v, "anomaly", e),
    ev.Notice: RunView._notice,
    ev.EvaluationStarted: lambda v, e: setattr(v, "evaluating", e.candidate),
    ev.EvaluationFinished: RunView._evaluated,
    ev.ModelPromoted: RunView._promoted,
    ev.PromotionSkipped: RunView._not_promoted,
}
