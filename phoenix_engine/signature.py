"""Classify how a training process ended and hash a signature that is stable across runs.

(Types fixed here; the classification logic is being written.)
"""

from __future__ import annotations

__all__ = ["Classified", "FailureKind", "Frame", "classify"]

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class FailureKind(enum.StrEnum):
    EXCEPTION = "exception"  # a Python traceback (not OOM)
    OOM = "oom"  # CUDA/torch out of memory (GPU)
    HOST_OOM = "host_oom"  # killed by SIGKILL we did not send (kernel OOM killer), MemoryError
    HANG = "hang"  # silence past the heartbeat; we stopped it
    SIGNAL = "signal"  # died of another signal (SIGSEGV, SIGABRT, ...)
    EXIT_CODE = "exit_code"  # non-zero exit without a traceback
    LAUNCH = "launch"  # the command could not be started (not found, not executable)


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    path: str  # as printed in the traceback
    line: int
    function: str
    relpath: str | None  # path relative to the project dir when inside it (not site-packages)


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
    repairable: bool = True  # False when no code change can help (launch errors, our own stop)


def classify(
    *,
    returncode: int | None,
    signal: int | None,
    tail: Sequence[str],
    project_dir: Path,
    hang: bool = False,
    via_shell: bool = False,
) -> Classified:
    raise NotImplementedError
