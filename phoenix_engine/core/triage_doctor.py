"""What ``phoenix doctor`` says about failure triage: every class with its action, and a
training command that Phoenix changed (an OOM fix on the command line, kept in state.json,
which the caller reads and passes in)."""

from __future__ import annotations

__all__ = ["KINDS", "describe_classes", "doctor_lines"]

from collections.abc import Mapping

from phoenix_engine.core.settings import Settings
from phoenix_engine.core.triage import RULES, FailureKind

# kind -> (what it is, what Phoenix does), in the order a person reads them
KINDS: dict[FailureKind, tuple[str, str]] = {
    FailureKind.EXCEPTION: ("a traceback in the project's code", "repair: ask the providers"),
    FailureKind.OOM: (
        "GPU out of memory",
        "repair once (halve the batch size, on the command line when it is there); "
        "wait when other processes hold most of the GPU",
    ),
    FailureKind.HOST_OOM: ("out of RAM, SIGKILL, exit 137", "restart; repair if it recurs"),
    FailureKind.DISK_FULL: ("no space or quota while writing", "wait for space, restart"),
    FailureKind.CORRUPT_CHECKPOINT: (
        "a checkpoint that cannot be loaded",
        "resume_previous: quarantine it, resume from the one before; stop when none is left",
    ),
    FailureKind.COLLECTIVE_TIMEOUT: ("NCCL/gloo watchdog, rendezvous, lost peer", "restart"),
    FailureKind.GPU_FAULT: (
        "ECC, lost GPU, driver mismatch; kernel launch failure",
        "stop (needs a person); a launch failure restarts once",
    ),
    FailureKind.DEVICE_ASSERT: (
        "a CUDA device-side assert",
        "debug_rerun with CUDA_LAUNCH_BLOCKING=1, then repair",
    ),
    FailureKind.ENVIRONMENT: ("a missing module or shared library", "stop, naming it"),
    FailureKind.HANG: ("no output for the heartbeat period", "repair"),
    FailureKind.SIGNAL: ("died of a signal", "repair; SIGINT/SIGTERM from outside: stop"),
    FailureKind.EXIT_CODE: ("non-zero exit without a traceback", "repair; exit 75: restart"),
    FailureKind.LAUNCH: ("the command cannot start", "stop"),
    FailureKind.DIVERGED: ("NaN/inf loss (PHOENIX_NAN_ACTION=repair)", "repair"),
}


def describe_classes() -> list[tuple[str, str, str]]:
    """(kind, the actions of its rows, what it is and does), every kind once."""
    rows = []
    for kind, (what, does) in KINDS.items():
        actions = dict.fromkeys(r.action.value for r in RULES if r.kind is kind)
        shown = " / ".join(actions) or does.split(":")[0].split(";")[0]
        rows.append((kind.value, shown, f"{what} -> {does}"))
    return rows


def doctor_lines(settings: Settings, fix: Mapping[str, str]) -> list[tuple[str, bool, str, bool]]:
    """(name, ok, detail, warning) rows for doctor; ``fix`` is state.json's command record
    (original, command, why), empty when there is none or it cannot be read."""
    lines = [(f"class {kind}", True, detail, False) for kind, _, detail in describe_classes()]
    if fix.get("original") == settings.train_cmd and fix.get("command"):
        detail = (
            f"{fix.get('why', 'changed by phoenix')}; restarts run `{fix['command']}` "
            "(phoenix reset goes back to yours)"
        )
        lines.append(("training command changed", True, detail, True))
    return lines
