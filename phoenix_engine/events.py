"""Every fact the engine observes or decides, as a frozen dataclass, and the two seams.

Front ends implement :class:`EventSink` (the journal, the headless printer, the console, the
notifier are all sinks) and :class:`Approver` (the one question the engine asks). Each event
has a stable ``name`` that is its journal ``event`` field; ``journal = False`` marks high-volume
events (output lines) that sinks may show but the journal does not keep.

The events themselves live by theme in private modules, all re-exported here (``ev.Xxx`` is
the one way to name them): the run's life (``_events_run``), what it measures
(``_events_telemetry``), the repair loop and promotion (``_events_repair``), on the base
``Event`` (``_event_base``).
"""

from __future__ import annotations

__all__ = [
    "ALL_EVENTS",
    "Anomaly",
    "ApprovalRequested",
    "Approver",
    "ContainmentBreach",
    "DataChanged",
    "Decision",
    "Diagnosis",
    "EvaluationFinished",
    "EvaluationStarted",
    "Event",
    "EventSink",
    "Failure",
    "GaveUp",
    "GpuProcess",
    "GpuReading",
    "GpuStatus",
    "GuardCleared",
    "GuardTripped",
    "HangDetected",
    "HostReading",
    "HostStatus",
    "MetricSample",
    "ModelPromoted",
    "Notice",
    "NotifyFailed",
    "OrphanReaped",
    "OutputLines",
    "PatchApplied",
    "PatchProposed",
    "PatchRejected",
    "ProcessExited",
    "ProcessStarted",
    "Progress",
    "PromotionSkipped",
    "ProviderFailed",
    "RemoteCommand",
    "RepairRequested",
    "Restarting",
    "RolledBack",
    "RunCompleted",
    "RunStarted",
    "ShadowFailed",
    "ShadowPassed",
    "Stopped",
    "event_fields",
]

from dataclasses import dataclass, field
from typing import Protocol

from phoenix_engine._event_base import Event, event_fields
from phoenix_engine._events_repair import (
    ApprovalRequested,
    ContainmentBreach,
    Diagnosis,
    EvaluationFinished,
    EvaluationStarted,
    ModelPromoted,
    PatchApplied,
    PatchProposed,
    PatchRejected,
    PromotionSkipped,
    ProviderFailed,
    RepairRequested,
    RolledBack,
    ShadowFailed,
    ShadowPassed,
)
from phoenix_engine._events_run import (
    Failure,
    GaveUp,
    HangDetected,
    Notice,
    NotifyFailed,
    OrphanReaped,
    OutputLines,
    ProcessExited,
    ProcessStarted,
    RemoteCommand,
    Restarting,
    RunCompleted,
    RunStarted,
    Stopped,
)
from phoenix_engine._events_telemetry import (
    Anomaly,
    DataChanged,
    GpuProcess,
    GpuReading,
    GpuStatus,
    GuardCleared,
    GuardTripped,
    HostReading,
    HostStatus,
    MetricSample,
    Progress,
)

ALL_EVENTS: tuple[type[Event], ...] = (
    RemoteCommand,
    NotifyFailed,
    DataChanged,
    Progress,
    Anomaly,
    GuardCleared,
    GuardTripped,
    RunStarted,
    ProcessStarted,
    ProcessExited,
    HangDetected,
    Failure,
    OrphanReaped,
    Restarting,
    GaveUp,
    RunCompleted,
    Stopped,
    Notice,
    OutputLines,
    GpuStatus,
    HostStatus,
    MetricSample,
    RepairRequested,
    ProviderFailed,
    Diagnosis,
    PatchProposed,
    PatchRejected,
    ShadowPassed,
    ShadowFailed,
    ContainmentBreach,
    ApprovalRequested,
    PatchApplied,
    RolledBack,
    EvaluationStarted,
    EvaluationFinished,
    ModelPromoted,
    PromotionSkipped,
)


class EventSink(Protocol):
    """Receives every event; must not block (queue slow work) and must not raise."""

    def emit(self, event: Event) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """An approver's answer; ``reason`` is shown when the patch is not approved."""

    approved: bool
    reason: str = ""
    by: str = field(default="policy")


class Approver(Protocol):
    """The one question the engine asks: may this vetted patch be applied?"""

    async def approve(self, proposal: PatchProposed) -> Decision: ...

    def cancel_pending(self, reason: str) -> None:
        """Phoenix is stopping: refuse every patch still waiting (no later answer applies it)."""
        ...
