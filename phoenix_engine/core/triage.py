"""The class table: every kind of failure, how its text is recognised, and what Phoenix does.

One row per cause: the ``kind`` it belongs to (``failure.kind``), a pattern over the root
cause's text (the last traceback and what follows it, or the whole tail without one), the
``action`` (what an engineer on call would do), a one-sentence ``advice`` template and a
``specificity``: when several rows match, the most specific cause wins (an ECC error that also
killed the NCCL watchdog is a GPU fault). Messages common to several classes ("CUDA kernel
errors might be asynchronously reported", "consider passing CUDA_LAUNCH_BLOCKING=1") are in no
row, so they decide nothing. Patterns join words with ``\\s+``: a message wrapped over several
lines (rich tracebacks) still matches. Matching the table is ``_triage_match.match`` (pure).
"""

from __future__ import annotations

__all__ = ["RULES", "Action", "FailureKind", "Rule"]

import enum
import re
from dataclasses import dataclass


class FailureKind(enum.StrEnum):
    EXCEPTION = "exception"  # a Python traceback whose cause is in the project's code
    OOM = "oom"  # CUDA/torch out of memory (GPU)
    HOST_OOM = "host_oom"  # killed by SIGKILL we did not send (kernel OOM killer), MemoryError
    HANG = "hang"  # silence past the heartbeat; we stopped it
    SIGNAL = "signal"  # died of another signal (SIGSEGV, SIGABRT, ...)
    EXIT_CODE = "exit_code"  # non-zero exit without a traceback
    LAUNCH = "launch"  # the command could not be started (not found, not executable)
    DIVERGED = "diverged"  # the loss became NaN/inf and PHOENIX_NAN_ACTION=repair
    DISK_FULL = "disk_full"  # no space / quota while writing
    CORRUPT_CHECKPOINT = "corrupt_checkpoint"  # loading a checkpoint failed: truncated, bad header
    COLLECTIVE_TIMEOUT = "collective_timeout"  # NCCL/gloo watchdog, rendezvous, a peer died
    GPU_FAULT = "gpu_fault"  # ECC, lost device, driver mismatch, launch failure
    DEVICE_ASSERT = "device_assert"  # a CUDA kernel assertion (index out of bounds...)
    ENVIRONMENT = "environment"  # a missing module or shared library, an ABI mismatch


class Action(enum.StrEnum):
    REPAIR = "repair"  # ask the providers for a patch (the only action that does)
    RESTART = "restart"  # restart as is (from the newest checkpoint when resuming is set up)
    RESUME_PREVIOUS = "resume_previous"  # quarantine the checkpoint, resume from the one before
    DEBUG_RERUN = "debug_rerun"  # rerun once with CUDA_LAUNCH_BLOCKING=1 for a precise traceback
    WAIT = "wait"  # wait for disk space or for other processes' GPU memory, then restart
    STOP = "stop"  # nothing automatic can help: a person must act


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    kind: FailureKind
    cause: str  # short and stable: it is part of the signature of a failure without traceback
    pattern: re.Pattern[str]
    action: Action
    advice: str  # {detail}: what the pattern's ``detail`` group (or the match) says
    specificity: int
    anywhere: bool  # evidence of the machine (ECC, Xid, driver): counts before the traceback too
    keys: tuple[str, ...]  # lower-case words one of which every match contains (a cheap filter)


def _r(kind: FailureKind, cause: str, pattern: str, action: Action, advice: str, spec: int) -> Rule:
    compiled = re.compile(pattern.replace(" ", r"\s+"), re.IGNORECASE | re.MULTILINE)
    return Rule(
        kind=kind,
        cause=cause,
        pattern=compiled,
        action=action,
        advice=advice,
        specificity=spec,
        anywhere=cause in _MACHINE,
        keys=_KEYS[cause],
    )


K, A = FailureKind, Action
_MACHINE = frozenset({"ecc", "lost_device", "driver"})
# Per row, words (lower case, never wrapped by rich) that any text the row matches contains:
# only windows around them are searched, so a tail costs a few substring scans.
_KEYS = {
    "ecc": ("ecc error", "ecc_uncorrectable"),
    "lost_device": ("fallen off", "xid"),
    "driver": ("mismatch", "insufficient", "cuda-capable", "driver_not_loaded"),
    "launch_failure": ("launch failure", "illegal memory", "illegal instruction", "launchfailure"),
    "no_space": ("no space", "storagefull", "quota", "streamwriter", "write():", "unexpected pos"),
    "truncated": (
        "streamreader", "unexpected eof", "metadataincomplete", "headertoolarge",
        "deserializing header", "unable to load weights", "truncated", "load key", "out of input",
    ),
    "assert": ("assert", "runtime error (59)", "runtime error (710)"),
    "library": ("shared object", "undefined symbol", "glibc"),
    "module": ("no module named", "library but it was not found"),
    "wrapped_import": ("failed to import",),
    "shm": ("shared memory",),
    "gpu": ("out of memory", "outofmemory", "alloc_failed", "memoryallocation", "capacty"),
    "host": ("allocate memory", "not enough memory", "killed", "bad_alloc", "memoryerror"),
    "collective": (
        "watchdog", "communicator was aborted", "nccl operations", "socket timeout",
        "rendezvoustimeout", "by peer", "diststoreerror", "ncclremoteerror", "nccl error",
    ),
}  # fmt: skip
_RESTART_ONCE = "restarting once; if it comes back without progress Phoenix stops"
# fmt: off
RULES: tuple[Rule, ...] = (
    _r(K.GPU_FAULT, "ecc",
       r"uncorrectable ECC error|ECC error encountered|ECC_UNCORRECTABLE",
       A.STOP,
       "the GPU reported an uncorrectable ECC error: it needs a reset or a reboot "
       "(check nvidia-smi -q -d ECC) before training can go on",
       95),
    _r(K.GPU_FAULT, "lost_device",
       r"GPU has fallen off the bus|NVRM: Xid|\bXid \(PCI:",
       A.STOP,
       "the GPU fell off the bus or reported an Xid error: the machine needs a person "
       "(dmesg, nvidia-smi, likely a reboot)",
       94),
    _r(K.GPU_FAULT, "driver",
       r"Driver/library version mismatch|CUDA driver version is "
       r"insufficient|no CUDA-capable device is detected|NVML_ERROR_DRIVER_NOT_LOADED",
       A.STOP,
       "the CUDA driver cannot be used ({detail}): a driver update needs a reboot or a driver fix",
       93),
    _r(K.GPU_FAULT, "launch_failure",
       r"unspecified launch failure|an illegal memory access was "
       r"encountered|illegal instruction was encountered|cudaErrorLaunchFailure",
       A.RESTART,
       "a CUDA kernel failed ({detail}); " + _RESTART_ONCE,
       85),
    _r(K.DISK_FULL, "no_space",
       r"(?P<detail>\[Errno 28\] No space left on device[^\n]*)"
       r"|No space left on device|kind: StorageFull|\[Errno 122\] Disk quota exceeded"
       r"|Disk quota exceeded|PytorchStreamWriter failed writing file[^\n]*"
       r"|write\(\): fd \d+ failed with (?:Input/output error|No space left)"
       r"|inline_container\.cc:\d+\] \. unexpected pos \d+ vs \d+",
       A.WAIT,
       "the disk filled up while writing: free space, Phoenix restarts once there is "
       "room (no patch can fix a full disk)",
       80),
    _r(K.CORRUPT_CHECKPOINT, "truncated",
       r"PytorchStreamReader failed reading"
       r"|unexpected EOF, expected \d+ more bytes|MetadataIncompleteBuffer|HeaderTooLarge"
       r"|Error while deserializing header|Unable to load weights from pytorch checkpoint file"
       r"|pickle data was truncated|invalid load key"
       r"|EOFError: Ran out of input",
       A.RESUME_PREVIOUS,
       "a checkpoint could not be loaded (truncated or corrupt): it goes to "
       ".phoenix_cli/quarantine/ and the run resumes from the one before",
       75),
    _r(K.DEVICE_ASSERT, "assert",
       r"device-side assert triggered|cuda runtime error \((?:59|710)\)"
       r"|cudaErrorAssert|\.cu:\d+: [^\n]*Assertion [^\n]* failed",
       A.DEBUG_RERUN,
       "a CUDA kernel assertion failed; rerunning once with CUDA_LAUNCH_BLOCKING=1 "
       "so the traceback points at the real line, then repairing from that traceback",
       70),
    _r(K.ENVIRONMENT, "library",
       r"(?P<detail>[\w.+-]+\.so[\w.]*): cannot open shared object file"
       r"|cannot open shared object file|undefined symbol: (?P<symbol>\S+)"
       r"|version `GLIBC\w*_[\d.]+' not found",
       A.STOP,
       "a shared library is missing or does not match ({detail}): reinstall the package "
       "that provides it for this CUDA/torch version",
       62),
    _r(K.ENVIRONMENT, "module",
       r"No module named '?(?P<detail>[\w.]+)'?"
       r"|requires the (?P<library>[\w-]+) library but it was not found",
       A.STOP,
       "the module {detail} is not installed in the training environment{pip}",
       60),
    _r(K.ENVIRONMENT, "wrapped_import",
       r"Failed to import (?P<detail>[\w.]+) because of the "
       r"following error",
       A.STOP,
       "{detail} cannot be imported in the training environment "
       "(a missing or mismatched dependency, see the error above it): reinstall it",
       58),
    _r(K.ENVIRONMENT, "shm",
       r"insufficient shared memory \(shm\)|workers are out of shared memory",
       A.STOP,
       "a DataLoader worker hit the shared-memory limit: give the container more "
       "/dev/shm (docker --shm-size) or use fewer workers",
       61),
    _r(K.OOM, "gpu",
       r"(?:CUDA|HIP)(?: error:)? out of memory|MPS backend out of memory"
       r"|Cuda failure 'out of memory'|CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED"
       r"|cudaErrorMemoryAllocation|OutOfMemoryError|total capacty of",
       A.REPAIR,
       "the GPU ran out of memory: Phoenix tries one fix (a smaller batch)",
       50),
    _r(K.HOST_OOM, "host",
       r"DefaultCPUAllocator: (?:can't allocate memory|not enough memory)"
       r"|is killed by signal: Killed|^Killed$|std::bad_alloc|MemoryError",
       A.RESTART,
       "the machine ran out of RAM (OOM killer or allocator): restarting; if it comes "
       "back without progress Phoenix asks for a fix",
       45),
    _r(K.COLLECTIVE_TIMEOUT, "collective",
       r"Watchdog caught collective operation timeout"
       r"|NCCL communicator was aborted|Some NCCL operations have failed or timed out"
       r"|ProcessGroupNCCL's watchdog|Socket Timeout|RendezvousTimeoutError"
       r"|Connection closed by peer|Connection reset by peer|DistStoreError[^\n]*Timed out"
       r"|ncclRemoteError|NCCL error[^\n]*(?:remote process exited|unhandled system error)",
       A.RESTART,
       "a collective operation timed out or a peer rank died: restarting (from the "
       "newest checkpoint when resuming is set up); no patch",
       30),
)
# fmt: on
