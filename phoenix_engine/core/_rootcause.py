"""Which part of a tail is the root cause: torchrun's verdict, the hang's last line, OOM holders.

- torchrun ends a failed run with a "Root Cause (first observed failure)" block naming the rank,
  its exit code and, when it died of a signal, ``Signal 9 (SIGKILL) received by PID N``.
- After Phoenix's SIGINT the launcher and the training print their shutdown (``SignalException:
  Process N got signal: 2``, a KeyboardInterrupt traceback): none of that is the hang.
- Since torch 2.1 a CUDA OOM lists every process holding memory on the device ("Process 4242 has
  14.85 GiB memory in use") and the device's capacity; torch 2.1 spells it "capacty".
"""

from __future__ import annotations

__all__ = ["RootCause", "before_interrupt", "memory_holders", "root_cause"]

import re
from collections.abc import Sequence
from dataclasses import dataclass

_BLOCK = re.compile(r"Root Cause \(first observed failure\)")
_RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
_EXIT = re.compile(r"^\s*exitcode\s*:\s*(-?\d+)")
_SIGNAL = re.compile(r"Signal (\d+) \((SIG\w+)\) received by PID")
_INTERRUPT = re.compile(
    r"got signal: 2\b|Received (?:Signals\.)?SIGINT|SignalException|closing signal SIGINT"
    r"|^KeyboardInterrupt"
)
_HEADER = re.compile(r"^\s*Traceback \(most recent call last\):\s*$")
_HOLDER = re.compile(r"Process (\d+) has (\d+(?:\.\d+)?) (GiB|MiB) memory in use")
_CAPACITY = re.compile(r"total capac(?:i)?ty of (\d+(?:\.\d+)?) (GiB|MiB)")
_LOOK_BACK = 80  # lines a launcher may print after the SIGINT


@dataclass(frozen=True, slots=True, kw_only=True)
class RootCause:
    rank: str | None
    exitcode: int | None
    signal: int | None  # the rank died of this signal (torchrun reports it)


def root_cause(lines: Sequence[str]) -> RootCause | None:
    """torchrun's last "Root Cause" block, or None."""
    if not any("Root Cause" in line for line in lines):
        return None
    start = next((i for i in range(len(lines) - 1, -1, -1) if _BLOCK.search(lines[i])), None)
    if start is None:
        return None
    rank = exitcode = signal = None
    for text in lines[start + 1 : start + 12]:
        if text.startswith("=") and rank is not None:
            break
        if (m := _RANK.match(text)) and rank is None:
            rank = m.group(1)
        elif (m := _EXIT.match(text)) and exitcode is None:
            exitcode = int(m.group(1))
        elif m := _SIGNAL.search(text):
            signal = int(m.group(1))
    if signal is None and exitcode is not None and exitcode < 0:
        signal = -exitcode
    return RootCause(rank=rank, exitcode=exitcode, signal=signal)


def before_interrupt(lines: Sequence[str]) -> Sequence[str]:
    """The lines printed before the first sign of Phoenix's SIGINT near the end."""
    first = max(0, len(lines) - _LOOK_BACK)
    for i in range(first, len(lines)):
        if _INTERRUPT.search(lines[i]):
            # A KeyboardInterrupt closes a traceback: cut at its header, not after its frames.
            j = i
            while j > 0 and (lines[j - 1][:1] in (" ", "\t") or _HEADER.match(lines[j - 1])):
                j -= 1
            return lines[:j] if j < i and _HEADER.match(lines[j]) else lines[:i]
    return lines


def _gib(value: str, unit: str) -> float:
    return float(value) / (1024 if unit == "MiB" else 1)


def memory_holders(text: str) -> tuple[tuple[tuple[int, float], ...], float | None]:
    """((pid, GiB) per process an OOM message names, the device's capacity in GiB or None)."""
    holders = tuple((int(p), _gib(v, u)) for p, v, u in _HOLDER.findall(text))
    cap = _CAPACITY.search(text)
    return holders, (_gib(cap.group(1), cap.group(2)) if cap else None)
