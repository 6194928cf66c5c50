"""Every fact the engine observes or decides, as a frozen dataclass, and the two seams.

Front ends implement :class:`EventSink` (the journal, the headless printer, the console, the
notifier are all sinks) and :class:`Approver` (the one question the engine asks). Each event
has a stable ``name`` that is its journal ``event`` field; ``journal = False`` marks high-volume
events (output lines) that sinks may show but the journal does not keep.
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

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events; ``ts`` is seconds since the epoch (UTC) when it happened."""

    name: ClassVar[str] = "event"
    journal: ClassVar[bool] = True
    ts: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    name: ClassVar[str] = "run_started"
    command: str
    project: str
    mode: str
    phoenix_pid: int
    restarts_used: int = 0
    # Names this run in ``phoenix runs``/``review``; the run's final event (run_completed,
    # gave_up, stopped) repeats it. A last run with neither end nor engine: Phoenix crashed.
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStarted(Event):
    name: ClassVar[str] = "process_started"
    pid: int
    command: str
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessExited(Event):
    name: ClassVar[str] = "process_exited"
    pid: int
    returncode: int | None
    signal: str | None
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HangDetected(Event):
    name: ClassVar[str] = "hang_detected"
    pid: int
    silent_s: float
    last_line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure(Event):
    name: ClassVar[str] = "failure"
    kind: str
    signature: str
    summary: str
    exc_type: str = ""
    location: str = ""
    repairable: bool = True
    action: str = "repair"  # repair, restart, resume_previous, debug_rerun, wait, stop
    advice: str = ""  # one sentence for the owner: what happened, what to do


@dataclass(frozen=True, slots=True, kw_only=True)
class OrphanReaped(Event):
    name: ClassVar[str] = "orphan_reaped"
    pid: int
    command: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Restarting(Event):
    name: ClassVar[str] = "restarting"
    attempt: int
    max_attempts: int
    restarts_used: int
    max_restarts: int
    cooldown_s: float
    reason: str
    checkpoint: str | None = None
    action: str = ""  # the failure's action that led here ('' for a guard)
    budget: str = ""  # each budget rule with its numbers


@dataclass(frozen=True, slots=True, kw_only=True)
class GaveUp(Event):
    name: ClassVar[str] = "gave_up"
    reason: str
    signature: str = ""
    rule: str = ""  # the rule that decided: a setting's name or "class KIND: stop"
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted(Event):
    name: ClassVar[str] = "run_completed"
    duration_s: float
    restarts: int
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopped(Event):
    name: ClassVar[str] = "stopped"
    reason: str
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(Event):
    """Something the user should know that is neither a failure nor a decision."""

    name: ClassVar[str] = "notice"
    message: str
    heartbeat_s: float | None = None  # a new hang limit in force, in seconds
    heartbeat_from: str = ""  # where that limit comes from


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputLines(Event):
    """Complete lines of training output (``\\r`` already applied), batched per read."""

    name: ClassVar[str] = "output"
    journal: ClassVar[bool] = False
    stream: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuProcess:
    """A process holding memory on a GPU; ``used_mb`` None when NVML cannot say (n/a)."""

    pid: int
    gpu_index: int
    used_mb: float | None
    ours: bool
    kind: str  # "compute", "graphics" or "compute+graphics"


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuReading:
    """One GPU at one moment; a field the device does not report is None ("n/a")."""

    index: int
    name: str
    temp_c: float | None = None
    mem_used_mb: float | None = None
    mem_total_mb: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    util_pct: float | None = None
    processes: tuple[GpuProcess, ...] = ()  # who holds VRAM: our training or someone else


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuStatus(Event):
    """A GPU sample. ``source`` is "nvml", "simulated" or "none" (then ``reason`` says why)."""

    name: ClassVar[str] = "gpu"
    journal: ClassVar[bool] = False
    source: str
    gpus: tuple[GpuReading, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSample(Event):
    """Training metrics parsed from one output line (as printed, not smoothed)."""

    name: ClassVar[str] = "metrics"
    journal: ClassVar[bool] = False
    step: int | None = None
    total_steps: int | None = None
    loss: float | None = None
    lr: float | None = None
    rate: float | None = None  # steps or samples per second, as printed
    grad_norm: float | None = None
    eta_s: float | None = None  # from the step rate over wall time and the total
    segment: int = 0  # counts restarts of the step count (a new loss history)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStatus(Event):
    """A host sample (CPU, RAM, the least free disk among the watched paths); None is n/a."""

    name: ClassVar[str] = "host"
    journal: ClassVar[bool] = False
    cpu_pct: float | None = None
    ram_used_gb: float | None = None
    ram_total_gb: float | None = None
    disk_free_gb: float | None = None
    disk_path: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardTripped(Event):
    name: ClassVar[str] = "guard_tripped"
    guard: str  # "gpu_temp", "gpu_power", "disk"
    reading: float
    limit: float
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardCleared(Event):
    name: ClassVar[str] = "guard_cleared"
    guard: str
    reading: float
    limit: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Anomaly(Event):
    """A training metric looks wrong: "nan", "spike" or "stall"."""

    name: ClassVar[str] = "anomaly"
    kind: str
    step: int | None
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(Event):
    name: ClassVar[str] = "progress"
    step: int
    loss: str  # as printed
    rate: float | None = None  # steps per second
    eta_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataChanged(Event):
    name: ClassVar[str] = "data_changed"
    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()
    added: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyFailed(Event):
    name: ClassVar[str] = "notify_failed"
    channel: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteCommand(Event):
    name: ClassVar[str] = "remote_command"
    user_id: str
    command: str
    allowed: bool
    reply: str = ""


# --- repair loop ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairRequested(Event):
    name: ClassVar[str] = "repair_requested"
    signature: str
    attempt: int
    providers: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderFailed(Event):
    name: ClassVar[str] = "provider_failed"
    provider: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnosis(Event):
    name: ClassVar[str] = "diagnosis"
    provider: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchProposed(Event):
    name: ClassVar[str] = "patch_proposed"
    id: str
    provider: str
    signature: str
    paths: tuple[str, ...]
    diff: str
    diagnosis: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchRejected(Event):
    name: ClassVar[str] = "patch_rejected"
    id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowPassed(Event):
    name: ClassVar[str] = "shadow_passed"
    id: str
    output_tail: str = ""
    note: str = ""  # what the shadow copy left out (no sandbox, over the copy budget)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowFailed(Event):
    name: ClassVar[str] = "shadow_failed"
    id: str
    reason: str
    output_tail: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainmentBreach(Event):
    """A shadow run changed real files (the patch is refused; the owner must look)."""

    name: ClassVar[str] = "containment_breach"
    id: str
    paths: tuple[str, ...]
    reason: str
    sandboxed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested(Event):
    name: ClassVar[str] = "approval_requested"
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchApplied(Event):
    name: ClassVar[str] = "patch_applied"
    id: str
    backup_id: str
    paths: tuple[str, ...]
    dry_run: bool = False
    approved_by: str = ""  # auto, console, attach:<uid>, discord:<user id> or timeout


@dataclass(frozen=True, slots=True, kw_only=True)
class RolledBack(Event):
    name: ClassVar[str] = "rolled_back"
    backup_id: str
    paths: tuple[str, ...]
    safety_backup_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationStarted(Event):
    """PHOENIX_EVAL_CMD started on the trained model (``candidate``)."""

    name: ClassVar[str] = "evaluation_started"
    candidate: str
    command: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationFinished(Event):
    name: ClassVar[str] = "evaluation_finished"
    candidate: str
    passed: bool
    score: float | None
    previous_score: float | None  # the model in service's, None when there is none
    reason: str
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPromoted(Event):
    """``path`` (the PHOENIX_PROMOTE_PATH link) now points at ``target``, a copy of
    ``candidate``; ``by`` is phoenix, operator (phoenix promote) or rollback."""

    name: ClassVar[str] = "model_promoted"
    path: str
    candidate: str
    previous: str  # what the link pointed at before ('' when nothing)
    target: str = ""
    score: float | None = None
    by: str = "phoenix"


@dataclass(frozen=True, slots=True, kw_only=True)
class PromotionSkipped(Event):
    """The trained model was not put in service; ``in_service`` stays (exit code 5)."""

    name: ClassVar[str] = "promotion_skipped"
    reason: str
    candidate: str = ""
    in_service: str = ""


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


def event_fields(event: Event) -> dict[str, Any]:
    """The event's own fields (without ``ts``), JSON-ready: tuples become lists."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        if f.name == "ts":
            continue
        value = getattr(event, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


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
