"""The one reducer of a run's state, behind ``phoenix status``, attach, Discord's ``!status``
and the console (whose view model only adds display on top of it).

:class:`Phase` is the one phase enum, :func:`next_phase` its transition table. :class:`RunView`
folds events (pure: no I/O, no clock) into the phase, budgets, the last failure, the provider,
metrics, the GPU sample, tripped guards and the patches awaiting an answer; it is an event sink
(``emit = apply``). The status text is :mod:`phoenix_engine.core.run_summary`'s.
"""

from __future__ import annotations

__all__ = ["FINAL_PHASES", "Phase", "RunView", "duration", "fold", "gpu_text", "next_phase"]

import enum
from collections.abc import Callable, Iterable
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.core.run_summary import duration, gpu_text, summary_text, training_line


class Phase(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    HUNG = "hung"
    FAILED = "failed"
    DIAGNOSING = "diagnosing"
    VALIDATING = "validating"
    AWAITING = "awaiting approval"
    RESTARTING = "restarting"
    GUARDED = "guard tripped"  # a temperature, power or disk guard stopped the training
    STOPPING = "stopping"  # an operator asked for a stop; only a final event ends it
    STOPPED = "stopped"
    GAVE_UP = "gave up"
    COMPLETED = "completed"


FINAL_PHASES = frozenset({Phase.STOPPED, Phase.GAVE_UP, Phase.COMPLETED})
_RESUMING = frozenset({Phase.STARTING, Phase.RUNNING})  # what leaves a final phase: a resume

# The transition table: the phase each event kind leads to.
_NEXT: dict[type[ev.Event], Phase] = {
    ev.RunStarted: Phase.STARTING,
    ev.ProcessStarted: Phase.RUNNING,
    ev.HangDetected: Phase.HUNG,
    ev.Failure: Phase.FAILED,
    ev.RepairRequested: Phase.DIAGNOSING,
    ev.PatchProposed: Phase.VALIDATING,
    ev.ApprovalRequested: Phase.AWAITING,
    ev.Restarting: Phase.RESTARTING,
    ev.GuardTripped: Phase.GUARDED,
    ev.GaveUp: Phase.GAVE_UP,
    ev.RunCompleted: Phase.COMPLETED,
    ev.Stopped: Phase.STOPPED,
}


def next_phase(
    phase: Phase, event: ev.Event, *, answered_waiting: bool = False, guards_left: int = 0
) -> Phase:
    """The phase after ``event``. ``answered_waiting``: a rejection answers the patch that
    waits (the loop asks the next provider); ``guards_left``: tripped guards after a clear."""
    if isinstance(event, ev.PatchRejected):
        target = Phase.DIAGNOSING if answered_waiting and phase is Phase.AWAITING else phase
    elif isinstance(event, ev.GuardCleared):
        target = Phase.RESTARTING if phase is Phase.GUARDED and not guards_left else phase
    else:
        target = _NEXT.get(type(event), phase)
    if target in FINAL_PHASES:
        return target
    if phase is Phase.STOPPING or (phase in FINAL_PHASES and target not in _RESUMING):
        return phase  # a stop in progress, or an end: only a final event (or a resume) moves it
    return target


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
        before = self.phase
        answered = isinstance(event, ev.PatchRejected) and event.id in self.pending
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        guards = len(self.guards)
        self.phase = next_phase(before, event, answered_waiting=answered, guards_left=guards)
        if before in FINAL_PHASES and self.phase is Phase.RUNNING:  # resumed: budgets cleared
            self.ended_at, self.final_reason, self.failure, self.attempt = None, "", None, 0
        if _NEXT.get(type(event)) in FINAL_PHASES:
            self.ended_at = event.ts or None
            self.pending.clear()

    emit = apply  # a RunView is an event sink: ``engine.add_sink(view)``

    def stopping(self) -> None:
        """An operator asked for a stop (not an event); the engine confirms with ``stopped``."""
        if self.phase not in FINAL_PHASES:
            self.phase = Phase.STOPPING

    # --- handlers (the data; the phase is :func:`next_phase`'s) -----------------------------

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name, value)

    def _run_started(self, e: ev.RunStarted) -> None:
        self.final_reason, self.runs = "", self.runs + 1
        self.restarts_used = e.restarts_used
        self.started_at = e.ts or self.started_at
        self.run_id, self.ended_at = e.run_id, None

    def _repair(self, e: ev.RepairRequested) -> None:
        self.attempt, self.providers = e.attempt, e.providers
        self.provider = e.providers[0] if e.providers else self.provider

    def _provider_failed(self, e: ev.ProviderFailed) -> None:
        names = self.providers
        if e.provider in names and names.index(e.provider) + 1 < len(names):
            self.provider = names[names.index(e.provider) + 1]

    def _proposed(self, e: ev.PatchProposed) -> None:
        self.proposals[e.id], self.provider = e, e.provider
        self.diagnosis = e.diagnosis or self.diagnosis

    def _answered(self, e: ev.PatchApplied | ev.PatchRejected) -> None:
        if isinstance(e, ev.PatchApplied):
            self.applied.append(e)
        if e.id in self.pending:
            self.pending.remove(e.id)

    def _restarting(self, e: ev.Restarting) -> None:
        self.restarts += 1
        self.attempt, self.max_attempts = e.attempt, e.max_attempts
        self.restarts_used, self.max_restarts = e.restarts_used, e.max_restarts

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
        return summary_text(self, now)

    def training_line(self) -> str:
        return training_line(self)


def fold(events: Iterable[ev.Event], **budgets: int) -> RunView:
    """The state after ``events`` (``max_attempts``, ``max_restarts``: the budgets known)."""
    view = RunView(**budgets)
    for event in events:
        view.apply(event)
    return view


_HANDLERS: dict[type[ev.Event], Callable[[RunView, Any], object]] = {
    ev.RunStarted: RunView._run_started,
    ev.Failure: lambda v, e: v._set(failure=e, diagnosis=""),
    ev.RepairRequested: RunView._repair,
    ev.ProviderFailed: RunView._provider_failed,
    ev.Diagnosis: lambda v, e: v._set(provider=e.provider, diagnosis=e.text),
    ev.PatchProposed: RunView._proposed,
    ev.ApprovalRequested: lambda v, e: v._set(pending=[*(p for p in v.pending if p != e.id), e.id]),
    ev.PatchApplied: RunView._answered,
    ev.PatchRejected: RunView._answered,
    ev.Restarting: RunView._restarting,
    ev.GaveUp: lambda v, e: setattr(v, "final_reason", e.reason),
    ev.RunCompleted: lambda v, e: setattr(v, "final_reason", ""),
    ev.Stopped: lambda v, e: setattr(v, "final_reason", e.reason),
    ev.MetricSample: RunView._metrics,
    ev.Progress: RunView._progress,
    ev.GpuStatus: lambda v, e: setattr(v, "gpu", e),
    ev.GuardTripped: lambda v, e: v.guards.__setitem__(e.guard, e),
    ev.GuardCleared: lambda v, e: v.guards.pop(e.guard, None),
    ev.Anomaly: lambda v, e: setattr(v, "anomaly", e),
    ev.Notice: RunView._notice,
    ev.EvaluationStarted: lambda v, e: setattr(v, "evaluating", e.candidate),
    ev.EvaluationFinished: lambda v, e: v._set(evaluation=e, evaluating=""),
    ev.ModelPromoted: RunView._promoted,
    ev.PromotionSkipped: RunView._not_promoted,
}
