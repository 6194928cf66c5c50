"""The value ``classify`` returns: what ended the training, its signature, and what to do."""

from __future__ import annotations

__all__ = ["LAST_LINE_CHARS", "SUMMARY_CHARS", "Classified"]

from dataclasses import dataclass

from phoenix_engine.core._traceback import Frame
from phoenix_engine.core.triage import Action, FailureKind

SUMMARY_CHARS = 200
LAST_LINE_CHARS = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class Classified:
    kind: FailureKind
    signature: str  # 16 hex chars
    summary: str  # one line a person understands, e.g. "NameError: name 'lr' is not defined"
    exc_type: str = ""  # e.g. "NameError", "torch.OutOfMemoryError"
    message: str = ""  # the exception message as printed (first line), not normalised
    frames: tuple[Frame, ...] = ()  # outermost first, as in the traceback
    location: str = ""  # "relpath:function" of the innermost project frame, or ""
    line: int | None = None  # line number of that frame
    repairable: bool = True  # False when no code change can help (a full disk, our own stop)
    action: Action = Action.REPAIR  # what the class table says to do (the engine may adjust)
    advice: str = ""  # one sentence for the owner
    cause: str = ""  # the class table's row, e.g. "ecc"; '' for a plain traceback
    detail: str = ""  # what the row picked out: a module, a library, a matched phrase
    holders: tuple[tuple[int, float], ...] = ()  # OOM: (pid, GiB) of each process on the GPU
    capacity_gib: float | None = None  # OOM: the device's memory
