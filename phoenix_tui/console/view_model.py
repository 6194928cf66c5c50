"""The console's view of a run: pure, no Textual, table-tested.

:class:`RunModel` is display on top of the one reducer,
:class:`~phoenix_engine.core.run_state.RunView` (phase, budgets, provider, guards, the last
failure): it adds the patch queue (every proposal and its state) and the words the status bar
shows. :class:`LossModel` holds the loss history for the sparkline (finite values only) and the
divergence marker; :class:`GpuModel` the latest GPU sample and whether it is stale.
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
from phoenix_engine.core.run_state import Phase, RunView
from phoenix_engine.core.run_summary import duration
from phoenix_engine.io.host import HostReading
from phoenix_tui.console._fixsummary import FixSummary, summarize_diff


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


class RunModel(RunView):
    """The one reducer's state (phase, budgets, provider, guards, the last failure: all
    :class:`RunView`'s), plus the patch queue and the words the status bar shows."""

    def __init__(self, *, max_retries: int, max_restarts: int, provider: str) -> None:
        super().__init__(max_attempts=max_retries, max_restarts=max_restarts)
        self.provider = provider  # the configured primary, until a repair names one
        self.patches: dict[str, PatchEntry] = {}
        self.in_service = ""  # the model in service after an evaluation, and why
        self._kinds: dict[str, str] = {}  # failure signature -> kind, for the patch queue

    def apply(self, event: ev.Event) -> None:
        super().apply(event)  # the phase and everything else the reducer knows
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    emit = apply

    @property
    def awaiting(self) -> str | None:
        """The patch whose answer is awaited now (the newest waiting), if any."""
        return self.pending[-1] if self.pending else None

    @property
    def triage(self) -> str:
        """ "kind → action" of the last failure ('' when the repair phases say it all)."""
        f = self.failure
        plain = f is None or (f.action == "repair" and not f.advice)
        return "" if f is None or plain else f"{f.kind} → {f.action}"

    @property
    def advice(self) -> str:
        """What to do about the last failure (a give-up keeps it)."""
        return self.failure.advice if self.failure is not None else ""

    def guard_note(self) -> str:
        """What tripped, e.g. "gpu_temp 92 > 90", for the status bar."""
        return ", ".join(f"{g.guard} {g.reading:g} > {g.limit:g}" for g in self.guards.values())

    def run_age(self, now: float) -> float | None:
        """How long the run has lasted (until its end, once it ended); None before its start."""
        if not self.started_at:
            return None
        return max(0.0, (self.ended_at or now) - self.started_at)

    # --- the patch queue and the model in service --------------------------------------------

    def _entry(self, patch_id: str) -> PatchEntry:
        entry = self.patches.get(patch_id)
        if entry is None:  # refused before it became a proposal (unusable, unsafe)
            entry = PatchEntry(id=patch_id, provider=self.provider)
            self.patches[patch_id] = entry
        return entry

    def _proposed(self, e: ev.PatchProposed) -> None:
        self.patches[e.id] = PatchEntry(
            id=e.id,
            provider=e.provider,
            signature=e.signature,
            paths=e.paths,
            diff=e.diff,
            diagnosis=e.diagnosis,
            kind=self._kinds.get(e.signature, ""),
            fix=summarize_diff(e.diff),
        )

    def _marked(self, patch_id: str, state: PatchState, reason: str | None = None) -> None:
        entry = self._entry(patch_id)
        entry.state, entry.reason = state, entry.reason if reason is None else reason

    def _applied(self, e: ev.PatchApplied) -> None:
        entry = self._entry(e.id)
        entry.state = PatchState.DRY_RUN if e.dry_run else PatchState.APPLIED
        entry.backup_id, entry.reason, entry.approved_by = e.backup_id, "", e.approved_by

    def _rolled_back(self, e: ev.RolledBack) -> None:
        for entry in self.patches.values():
            if entry.backup_id == e.backup_id:
                entry.state = PatchState.ROLLED_BACK

    def _promoted(self, e: ev.ModelPromoted) -> None:
        score = f", score {e.score:.6g}" if e.score is not None else ""
        self.in_service = f"in service: {e.candidate} ({e.by}{score})"

    def _not_promoted(self, e: ev.PromotionSkipped) -> None:
        self.in_service = f"kept in service: {e.in_service or 'nothing'} ({e.reason})"


_HANDLERS: dict[type[ev.Event], Callable[[RunModel, Any], None]] = {
    ev.Failure: lambda m, e: m._kinds.__setitem__(e.signature, e.kind),
    ev.PatchProposed: RunModel._proposed,
    ev.PatchRejected: lambda m, e: m._marked(e.id, PatchState.REJECTED, e.reason),
    ev.ShadowFailed: lambda m, e: m._marked(e.id, PatchState.SHADOW_FAILED, e.reason),
    ev.ShadowPassed: lambda m, e: m._marked(e.id, PatchState.SHADOW_PASSED),
    ev.ApprovalRequested: lambda m, e: m._marked(e.id, PatchState.AWAITING),
    ev.PatchApplied: RunModel._applied,
    ev.RolledBack: RunModel._rolled_back,
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
