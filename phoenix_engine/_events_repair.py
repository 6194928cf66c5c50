"""Events of the repair loop and of promotion: ask, diagnose, propose, shadow, approve, apply.

From the repair request to the applied (or rejected, or rolled back) patch, then the trained
model's evaluation and its promotion into service. Re-exported by :mod:`phoenix_engine.events`.
"""

from __future__ import annotations

__all__ = [
    "ApprovalRequested",
    "ContainmentBreach",
    "Diagnosis",
    "EvaluationFinished",
    "EvaluationStarted",
    "ModelPromoted",
    "PatchApplied",
    "PatchProposed",
    "PatchRejected",
    "PromotionSkipped",
    "ProviderFailed",
    "RepairRequested",
    "RolledBack",
    "ShadowFailed",
    "ShadowPassed",
]

from dataclasses import dataclass
from typing import ClassVar

from phoenix_engine._event_base import Event


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
