"""The console's view of a run, folded from engine events: pure, no Textual, table-tested.

:class:`RunModel` holds what the status bar and the patch queue show (phase, attempt, restarts,
active provider, every proposal and its state); :class:`LossModel` the loss history for the
sparkline (finite values only) and the divergence marker; :class:`GpuModel` the latest GPU
sample and whether it is stale.
"""

from __future__ import annotations

__all__ = ["GpuModel", "LossModel", "PatchEntry", "PatchState", "Phase", "RunModel", "duration"]

import enum
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.core.run_state import duration
from phoenix_engine.io.host import HostReading
from phoenix_tui.console._fixsummary import FixSummary, summarize_diff


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
    STOPPING = "stopping"
    STOPPED = "stopped"
    GAVE_UP = "gave up"
    COMPLETED = "completed"


FINAL_PHASES = frozenset({Phase.STOPPED, Phase.GAVE_UP, Phase.COMPLETED})


class PatchState(enum.StrEnum):
    PROPOSED = "proposed"  # vetted by policy, shadow run under way (or analyze-only)
    REJECTED = "rejected"
    SHADOW_FAILED = "shadow failed"
    SHADOW_PASSED = "shadow passed"
    AWAITING = "awaiting approval"
    APPLIED = "applied"
    DRY_RUN = "dry run"
    ROLLED_BACK = "rolled back"


@dataclass(slots=True, kw_only=True)
class PatchEntry:
    id: str
    provider: str
    signature: str = ""
    paths: tuple[str, ...] = ()
    diff: str = ""
    diagnosis: str = ""
    state: PatchState = PatchState.PROPOSED
    reason: str = ""
    backup_id: str = ""
    kind: str = ""  # the failure it repairs ("exception", "oom"...)
    fix: FixSummary = field(default_factory=FixSummary)  # where and what, from the diff
    approved_by: str = ""


class RunModel:
    """Phase, budgets, provider and the patch queue, as the events tell them."""

    def __init__(self, *, max_retries: int, max_restarts: int, provider: str) -> None:
        self.phase = Phase.STARTING
        self.attempt = 0
        self.max_attempts = max_retries
        self.restarts_used = 0
        self.max_restarts = max_restarts
        self.provider = provider
        self.providers: tuple[str, ...] = ()
        self.final_reason = ""
        self.triage = ""  # "kind → action" of the last failure
        self.advice = ""  # what to do about it (the last failure's, or the give-up's)
        self.started_ts = 0.0  # wall time of the run's start (run_started), 0 if unseen
        self.ended_ts = 0.0  # wall time of its end (completed, gave up, stopped)
        self.failure_kinds: dict[str, str] = {}  # signature -> failure kind
        self.guards: dict[str, ev.GuardTripped] = {}
        self.patches: dict[str, PatchEntry] = {}
        self.awaiting: str | None = None
        self.in_service = ""  # the model in service after an evaluation, and why

    def stopping(self) -> None:
        """The operator asked for a stop; the engine will confirm with ``stopped``."""
        if self.phase not in FINAL_PHASES:
            self.phase = Phase.STOPPING

    def apply(self, event: ev.Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _set_phase(self, phase: Phase) -> None:
        # A stop in progress is only ended by the engine's final word.
        if self.phase is Phase.STOPPING and phase not in FINAL_PHASES:
            return
        self.phase = phase

    def _entry(self, patch_id: str) -> PatchEntry:
        entry = self.patches.get(patch_id)
        if entry is None:  # refused before it became a proposal (unusable, unsafe)
            entry = PatchEntry(id=patch_id, provider=self.provider)
            self.patches[patch_id] = entry
        return entry

    # --- handlers ---------------------------------------------------------------------------

    def _run_started(self, e: ev.RunStarted) -> None:
        self.restarts_used = e.restarts_used
        self.started_ts, self.ended_ts = e.ts, 0.0
        self._set_phase(Phase.STARTING)

    def _process_started(self, e: ev.ProcessStarted) -> None:
        if self.phase in FINAL_PHASES:  # resumed after a stop or a give-up
            self.ended_ts, self.final_reason, self.advice, self.triage = 0.0, "", "", ""
            self.attempt = 0
        self._set_phase(Phase.RUNNING)

    def _failure(self, e: ev.Failure) -> None:
        self._set_phase(Phase.FAILED)
        self.final_reason = e.summary
        self.failure_kinds[e.signature] = e.kind
        plain = e.action == "repair" and not e.advice  # the repair phases say the rest
        self.triage, self.advice = ("" if plain else f"{e.kind} → {e.action}"), e.advice

    def _repair(self, e: ev.RepairRequested) -> None:
        self._set_phase(Phase.DIAGNOSING)
        self.attempt = e.attempt
        self.providers = e.providers
        if e.providers:
            self.provider = e.providers[0]

    def _provider_failed(self, e: ev.ProviderFailed) -> None:
        names = self.providers
        if e.provider in names and names.index(e.provider) + 1 < len(names):
            self.provider = names[names.index(e.provider) + 1]

    def _proposed(self, e: ev.PatchProposed) -> None:
        self._set_phase(Phase.VALIDATING)
        self.provider = e.provider
        self.patches[e.id] = PatchEntry(
            id=e.id,
            provider=e.provider,
            signature=e.signature,
            paths=e.paths,
            diff=e.diff,
            diagnosis=e.diagnosis,
            kind=self.failure_kinds.get(e.signature, ""),
            fix=summarize_diff(e.diff),
        )

    def _rejected(self, e: ev.PatchRejected) -> None:
        entry = self._entry(e.id)
        entry.state, entry.reason = PatchState.REJECTED, e.reason
        if self.awaiting == e.id:
            self.awaiting = None
            self._set_phase(Phase.DIAGNOSING)

    def _shadow_failed(self, e: ev.ShadowFailed) -> None:
        entry = self._entry(e.id)
        entry.state, entry.reason = PatchState.SHADOW_FAILED, e.reason

    def _shadow_passed(self, e: ev.ShadowPassed) -> None:
        self._entry(e.id).state = PatchState.SHADOW_PASSED

    def _approval(self, e: ev.ApprovalRequested) -> None:
        self._entry(e.id).state = PatchState.AWAITING
        self.awaiting = e.id
        self._set_phase(Phase.AWAITING)

    def _applied(self, e: ev.PatchApplied) -> None:
        entry = self._entry(e.id)
        entry.state = PatchState.DRY_RUN if e.dry_run else PatchState.APPLIED
        entry.backup_id, entry.reason, entry.approved_by = e.backup_id, "", e.approved_by
        if self.awaiting == e.id:
            self.awaiting = None

    def _rolled_back(self, e: ev.RolledBack) -> None:
        for entry in self.patches.values():
            if entry.backup_id == e.backup_id:
                entry.state = PatchState.ROLLED_BACK

    def _restarting(self, e: ev.Restarting) -> None:
        self._set_phase(Phase.RESTARTING)
        self.attempt, self.max_attempts = e.attempt, e.max_attempts
        self.restarts_used, self.max_restarts = e.restarts_used, e.max_restarts

    def _guard_tripped(self, e: ev.GuardTripped) -> None:
        self.guards[e.guard] = e
        self._set_phase(Phase.GUARDED)

    def _guard_cleared(self, e: ev.GuardCleared) -> None:
        self.guards.pop(e.guard, None)
        if not self.guards and self.phase is Phase.GUARDED:
            self._set_phase(Phase.RESTARTING)

    def guard_note(self) -> str:
        """What tripped, e.g. "gpu_temp 92 > 90", for the status bar."""
        return ", ".join(f"{g.guard} {g.reading:g} > {g.limit:g}" for g in self.guards.values())

    def _gave_up(self, e: ev.GaveUp) -> None:
        self.phase, self.final_reason, self.awaiting = Phase.GAVE_UP, e.reason, None
        self.advice = str(getattr(e, "advice", "") or "") or self.advice  # the failure's
        self.ended_ts = e.ts

    def _completed(self, e: ev.RunCompleted) -> None:
        self.phase, self.final_reason, self.ended_ts = Phase.COMPLETED, "", e.ts

    def _promoted(self, e: ev.ModelPromoted) -> None:
        score = f", score {e.score:.6g}" if e.score is not None else ""
        self.in_service = f"in service: {e.candidate} ({e.by}{score})"

    def _not_promoted(self, e: ev.PromotionSkipped) -> None:
        self.final_reason = f"not promoted: {e.reason}"
        self.in_service = f"kept in service: {e.in_service or 'nothing'} ({e.reason})"

    def _stopped(self, e: ev.Stopped) -> None:
        self.phase, self.final_reason, self.awaiting = Phase.STOPPED, e.reason, None
        self.ended_ts = e.ts

    def run_age(self, now: float) -> float | None:
        """How long the run has lasted (until its end, once it ended); None before its start."""
        if not self.started_ts:
            return None
        return max(0.0, (self.ended_ts or now) - self.started_ts)


_HANDLERS: dict[type[ev.Event], Callable[[RunModel, Any], None]] = {
    ev.RunStarted: RunModel._run_started,
    ev.ProcessStarted: RunModel._process_started,
    ev.HangDetected: lambda m, e: m._set_phase(Phase.HUNG),
    ev.Failure: RunModel._failure,
    ev.RepairRequested: RunModel._repair,
    ev.ProviderFailed: RunModel._provider_failed,
    ev.Diagnosis: lambda m, e: setattr(m, "provider", e.provider),
    ev.PatchProposed: RunModel._proposed,
    ev.PatchRejected: RunModel._rejected,
    ev.ShadowFailed: RunModel._shadow_failed,
    ev.ShadowPassed: RunModel._shadow_passed,
    ev.ApprovalRequested: RunModel._approval,
    ev.PatchApplied: RunModel._applied,
    ev.RolledBack: RunModel._rolled_back,
    ev.Restarting: RunModel._restarting,
    ev.GuardTripped: RunModel._guard_tripped,
    ev.GuardCleared: RunModel._guard_cleared,
    ev.GaveUp: RunModel._gave_up,
    ev.RunCompleted: RunModel._completed,
    ev.Stopped: RunModel._stopped,
    ev.ModelPromoted: RunModel._promoted,
    ev.PromotionSkipped: RunModel._not_promoted,
}


class LossModel:
    """Recent finite losses for the sparkline; a NaN/inf loss becomes a divergence marker.

    The engine sends at most a few samples a second, so a NaN between two of them may only
    arrive as an ``anomaly`` event: both make the marker. Spikes and stalls get a warning.
    """

    def __init__(self, keep: int = 240) -> None:
        self.history: deque[float] = deque(maxlen=keep)
        self.last: ev.MetricSample | None = None
        self.diverged = ""  # the red marker's text, once the loss went NaN or infinite
        self.warning = ""  # the latest spike or stall

    def add(self, samples: list[ev.MetricSample]) -> None:
        for s in samples:
            if self.last is not None and s.segment != self.last.segment:
                self.history.clear()  # a restart from scratch: one sparkline per run
                self.warning = f"restarted: the step count began again at step {s.step}"
            if s.loss is not None:
                if math.isfinite(s.loss):
                    self.history.append(s.loss)
                else:
                    where = f"step {s.step}" if s.step is not None else "an unknown step"
                    self.diverged = f"diverged: loss {s.loss} at {where}"
            self.last = s

    def anomaly(self, e: ev.Anomaly) -> None:
        where = f" at step {e.step}" if e.step is not None else ""
        if e.kind == "nan":
            self.diverged = f"diverged{where}: {e.detail}"
        else:
            self.warning = f"{e.kind}{where}: {e.detail}"


HISTORY_FIELDS = ("util_pct", "temp_c", "power_w")


def finite(value: float | None) -> float | None:
    """The value if it is a finite number, else None (Textual's Sparkline raises on NaN)."""
    return value if value is not None and math.isfinite(value) else None


class GpuModel:
    """The latest GPU sample and when it arrived (a monotonic time), a short history of
    utilisation, temperature and power per GPU (finite values only), and the host's load."""

    def __init__(self, stale_after_s: float, keep: int = 60) -> None:
        self.status: ev.GpuStatus | None = None
        self.received = 0.0
        self.stale_after_s = stale_after_s
        self.keep = keep
        self.history: dict[tuple[int, str], deque[float]] = {}
        self.host: HostReading | None = None

    def update(self, status: ev.GpuStatus, now: float) -> None:
        self.status, self.received = status, now
        for gpu in status.gpus:
            for name in HISTORY_FIELDS:
                value = finite(getattr(gpu, name))
                if value is not None:
                    key = (gpu.index, name)
                    self.history.setdefault(key, deque(maxlen=self.keep)).append(value)

    def series(self, index: int, name: str) -> list[float]:
        return list(self.history.get((index, name), ()))

    def age(self, now: float) -> float:
        return max(0.0, now - self.received)

    def stale(self, now: float) -> bool:
        return self.status is not None and self.age(now) > self.stale_after_s
