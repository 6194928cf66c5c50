"""Classify how a training process ended and hash a signature that is stable across runs.

``classify`` is a pure function of the exit status and the tail of the output (no file system
access): a hang, a launch failure, GPU or host out-of-memory, a Python traceback, a signal, or a
plain exit code, in that order of priority. The signature is the first 16 hex chars of
``sha256("kind|exc_type|location|normalised message")``; ``normalise`` removes what changes from
run to run (numbers, sizes, paths, addresses, hashes) and keeps identifiers, so the retry ledger
can tell "the same failure again" from "a new one". Line numbers never enter a signature.

Choices worth knowing:
- ``returncode == 0`` without a signal or hang is a clean exit: ``EXIT_CODE``, "exited with code
  0", ``repairable=False``, even when the tail holds a traceback (it was caught and logged).
- An OOM signature hashes the OOM marker (e.g. "cuda out of memory") instead of the whole message:
  torch lists every process holding memory, and that list changes between runs.
- A launcher's own traceback (torchrun's ``ChildFailedError``, accelerate's
  ``CalledProcessError``) is skipped in favour of the child's traceback printed before it.
- A DataLoader "Original Traceback" counts as a traceback: it names the worker's real error.
- ``KeyboardInterrupt`` and SIGINT/SIGTERM/SIGHUP are stops from outside: ``repairable=False``.
"""

from __future__ import annotations

__all__ = ["Classified", "FailureKind", "Frame", "classify", "normalise"]

import enum
import hashlib
import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from signal import Signals, strsignal


class FailureKind(enum.StrEnum):
    EXCEPTION = "exception"  # a Python traceback (not OOM)
    OOM = "oom"  # CUDA/torch out of memory (GPU)
    HOST_OOM = "host_oom"  # killed by SIGKILL we did not send (kernel OOM killer), MemoryError
    HANG = "hang"  # silence past the heartbeat; we stopped it
    SIGNAL = "signal"  # died of another signal (SIGSEGV, SIGABRT, ...)
    EXIT_CODE = "exit_code"  # non-zero exit without a traceback
    LAUNCH = "launch"  # the command could not be started (not found, not executable)
    DIVERGED = "diverged"  # the loss became NaN/inf and PHOENIX_NAN_ACTION=repair


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


SUMMARY_CHARS = 200
LAST_LINE_CHARS = 120

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# torch.distributed prefixes each rank's output; torchrun --tee uses [defaultN]:.
_RANK = re.compile(r"^\[(?:rank|default)(\d+)\]:[ ]?")
_HEADER = re.compile(r"^\s*(?:Original )?Traceback \(most recent call last\):\s*$")
_FRAME = re.compile(r'^\s+File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+?))?\s*$')
_FAULT_HEADER = re.compile(r"^(?:Current thread|Thread) 0x[0-9a-fA-F]+ .*most recent call first")
_FAULT_FRAME = re.compile(r'^\s+File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<func>.+?)\s*$')
_EXC_LINE = re.compile(r"^(?P<type>(?:[A-Za-z_]\w*\.)*_*[A-Z]\w*)(?::(?: (?P<msg>.*))?)?$")
_EXC_SUFFIX = re.compile(r"(?:Error|Exception|Interrupt|Exit|Iteration|Warning|Failure|Failed)$")
_WRAPPERS = frozenset({"ChildFailedError", "CalledProcessError"})

_GPU_OOM_TYPES = frozenset({"OutOfMemoryError"})
_GPU_OOM = re.compile(
    r"(?:CUDA|HIP)(?: error:)? out of memory|MPS backend out of memory|Cuda failure 'out of memory'"
    r"|CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED|cudaErrorMemoryAllocation",
    re.IGNORECASE,
)
_HOST_OOM = re.compile(
    r"DefaultCPUAllocator: (?:can't allocate memory|not enough memory)"
    r"|is killed by signal: Killed"
)
_LAUNCH_TEXT = re.compile(
    r"^\S*python[\w.]*: (?:can't open file|can't find '__main__' module|No module named )"
    r"|^(?:\S*/)?(?:ba|da|z)?sh: (?:\d+: )?(?:line \d+: )?.+: "
    r"(?:not found|command not found|Permission denied|cannot execute.*|No such file or directory)$"
    r"|^(?:\S*/)?env: .+: No such file or directory$"
)
_SIGKILL = 9
_OUTSIDE_STOPS = frozenset({Signals.SIGINT, Signals.SIGTERM, Signals.SIGHUP})

_QUOTED = re.compile(r"""(['"])([^'"\n]*)\1""")
_PATHISH = re.compile(r"""[^\s'"()\[\]{}<>,;=]*[/\\][^\s'"()\[\]{}<>,;=]*""")
_PATH_START = re.compile(r"(?:~|\.{1,2})?[/\\]|[A-Za-z]:[/\\]")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b")
_ADDR = re.compile(r"\b0[xX][0-9a-fA-F]+\b")
_HEX_HASH = re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?\d+(?:\.\d+)*(?:[eE][-+]?\d+)?(?:\s?(?:[KMGTPE]i?B|bytes|B)\b)?(?!\w)"
)
_SHAPE_NUMBER = re.compile(r"\d+(?:\.\d+)*(?:[eE][-+]?\d+)?")
_BAR = re.compile(r"\|[\u2580-\u259f#\s\d]*\|")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Traceback:
    start: int  # index in the tail of its first line (header or first frame)
    exc_type: str
    message: str
    frames: tuple[Frame, ...]


def classify(
    *,
    returncode: int | None,
    signal: int | None,
    tail: Sequence[str],
    project_dir: Path,
    hang: bool = False,
    via_shell: bool = False,
) -> Classified:
    """Say how the process ended; see the module docstring for the order of the rules."""
    ranked = [_strip_prefix(line) for line in tail]
    lines = [text for _, text in ranked]
    if hang:
        return _hang(lines)
    signum = _signal_number(returncode, signal, via_shell)
    if returncode == 0 and signum is None:
        return _exit_code(0, lines)
    launch = _launch(returncode, lines, via_shell)
    if launch is not None:
        return launch
    tb = _last_traceback(ranked, project_dir)
    memory = _memory(tb, lines)
    if memory is not None:
        return memory
    if tb is not None:
        return _from_traceback(FailureKind.EXCEPTION, tb, normalise(tb.message))
    if signum is not None:
        return _signalled(signum, lines, project_dir)
    return _exit_code(returncode, lines)


def normalise(text: str) -> str:
    """Replace what varies between runs of the same failure; keep identifiers and quoted names."""
    text = _ANSI.sub("", text)
    text = _QUOTED.sub(_quoted_path, text)
    text = _PATHISH.sub(lambda m: "PATH" if _looks_like_path(m.group(0)) else m.group(0), text)
    text = _UUID.sub("HASH", text)
    text = _ADDR.sub("ADDR", text)
    text = _HEX_HASH.sub("HASH", text)
    text = _NUMBER.sub("N", text)
    return _SPACE.sub(" ", text).strip()


def _quoted_path(match: re.Match[str]) -> str:
    quote, inner = match.group(1), match.group(2)
    # A quoted sentence may hold a path among words: leave those to the token pass.
    spaced = re.search(r"\s", inner) is not None
    if not _looks_like_path(inner) or (spaced and not _PATH_START.match(inner)):
        return match.group(0)
    return f"{quote}PATH{quote}"


def _looks_like_path(token: str) -> bool:
    # 'train/loss' is a metric name, not a path: one separator and no extension is not enough.
    if not re.search(r"[A-Za-z0-9]", token):
        return False
    if "://" in token or _PATH_START.match(token):
        return True
    last = re.split(r"[/\\]", token.rstrip(".,:;"))[-1]
    return len(re.findall(r"[/\\]", token)) >= 2 or bool(re.search(r"\w\.[A-Za-z]\w{0,11}$", last))


def _shape(line: str) -> str:
    """The form of a log line without its values: step 120/1000 and step 340/1000 look alike."""
    text = _BAR.sub("|BAR|", _ANSI.sub("", line))
    text = _ADDR.sub("X", _UUID.sub("X", text))
    text = _SHAPE_NUMBER.sub("N", _HEX_HASH.sub("X", text))
    return _SPACE.sub(" ", text).strip()


def _signature(kind: FailureKind, exc_type: str, location: str, message: str) -> str:
    return hashlib.sha256(f"{kind}|{exc_type}|{location}|{message}".encode()).hexdigest()[:16]


def _clip(text: str, limit: int) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _strip_prefix(line: str) -> tuple[str | None, str]:
    text = _ANSI.sub("", line).rstrip("\r\n")
    match = _RANK.match(text)
    if match is None:
        return None, text
    return match.group(1), text[match.end() :]


def _last_line(lines: Sequence[str]) -> str:
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def _signal_number(returncode: int | None, signal: int | None, via_shell: bool) -> int | None:
    if signal:
        return signal
    if returncode is not None and returncode < 0:
        return -returncode
    # /bin/sh reports a child killed by signal N as exit status 128+N.
    if via_shell and returncode is not None and 128 < returncode <= 128 + 64:
        return returncode - 128
    return None


def _hang(lines: Sequence[str]) -> Classified:
    last = _last_line(lines)
    tail = f"last line: {_clip(last, LAST_LINE_CHARS)}" if last else "no output at all"
    return Classified(
        kind=FailureKind.HANG,
        signature=_signature(FailureKind.HANG, "", "", _shape(last)),
        summary=f"no output for the heartbeat period; {tail}",
    )


def _exit_code(returncode: int | None, lines: Sequence[str]) -> Classified:
    last = _last_line(lines)
    head = "exited (status unknown)" if returncode is None else f"exited with code {returncode}"
    summary = f"{head}; last line: {last}" if last and returncode != 0 else head
    return Classified(
        kind=FailureKind.EXIT_CODE,
        signature=_signature(FailureKind.EXIT_CODE, "", "", f"code {returncode} {_shape(last)}"),
        summary=_clip(summary, SUMMARY_CHARS),
        repairable=returncode != 0,  # a clean exit has nothing to repair
    )


def _launch(returncode: int | None, lines: Sequence[str], via_shell: bool) -> Classified | None:
    line = _launch_line(lines)
    if line is None and not (via_shell and returncode in (126, 127)):
        return None
    what = "command not found" if returncode == 127 else "command not executable"
    text = line or f"{what} (the shell exited with {returncode})"
    return Classified(
        kind=FailureKind.LAUNCH,
        signature=_signature(FailureKind.LAUNCH, "", "", normalise(text)),
        summary=_clip(f"could not start: {text}", SUMMARY_CHARS),
        message=line or "",
        repairable=False,
    )


def _launch_line(lines: Sequence[str]) -> str | None:
    # Only the last few lines: "sh: nvidia-smi: not found" early in a run is not a launch failure.
    recent = [line.strip() for line in lines if line.strip()][-3:]
    return next((line for line in reversed(recent) if _LAUNCH_TEXT.search(line)), None)


def _memory(tb: _Traceback | None, lines: Sequence[str]) -> Classified | None:
    name = tb.exc_type.rsplit(".", 1)[-1] if tb is not None else ""
    if tb is not None and name in _GPU_OOM_TYPES:
        marker = _GPU_OOM.search(tb.message)
        return _from_traceback(FailureKind.OOM, tb, _oom_marker(marker, "out of memory"))
    if tb is not None and name.endswith("MemoryError"):
        return _from_traceback(FailureKind.HOST_OOM, tb, normalise(tb.message))
    # An OOM message printed before the last traceback was caught and survived: ignore it.
    first = tb.start if tb is not None else 0
    for index in range(len(lines) - 1, first - 1, -1):
        for kind, pattern in ((FailureKind.OOM, _GPU_OOM), (FailureKind.HOST_OOM, _HOST_OOM)):
            match = pattern.search(lines[index])
            if match is not None:
                return _memory_text(kind, match, lines[index], tb)
    return None


def _oom_marker(match: re.Match[str] | None, default: str) -> str:
    return _SPACE.sub(" ", match.group(0).lower()) if match is not None else default


def _memory_text(
    kind: FailureKind, match: re.Match[str], line: str, tb: _Traceback | None
) -> Classified:
    marker = _oom_marker(match, "")
    if tb is not None:
        return _from_traceback(kind, tb, marker)
    text = line.strip().removeprefix("what():").strip()
    return Classified(
        kind=kind,
        signature=_signature(kind, "", "", marker),
        summary=_clip(text, SUMMARY_CHARS),
        message=text,
    )


def _from_traceback(kind: FailureKind, tb: _Traceback, sig_message: str) -> Classified:
    location, line = _location(tb.frames)
    head = f"{tb.exc_type}: {tb.message}" if tb.message else tb.exc_type
    where = f" ({location}, line {line})" if location else ""
    summary = _clip(head, SUMMARY_CHARS - len(where)) + where
    outside = tb.exc_type.rsplit(".", 1)[-1] == "KeyboardInterrupt"
    return Classified(
        kind=kind,
        signature=_signature(kind, tb.exc_type, location, sig_message),
        summary=summary,
        exc_type=tb.exc_type,
        message=tb.message,
        frames=tb.frames,
        location=location,
        line=line,
        repairable=not outside,
    )


def _location(frames: Sequence[Frame]) -> tuple[str, int | None]:
    for frame in reversed(frames):
        if frame.relpath is not None:
            return f"{frame.relpath}:{frame.function}", frame.line
    return "", None


def _signalled(signum: int, lines: Sequence[str], project_dir: Path) -> Classified:
    name = _signal_name(signum)
    if signum == _SIGKILL:
        return Classified(
            kind=FailureKind.HOST_OOM,
            signature=_signature(FailureKind.HOST_OOM, name, "", ""),
            summary="killed by SIGKILL, most likely the kernel's out-of-memory killer "
            "(check dmesg)",
        )
    frames = _faulthandler_frames(lines, project_dir)
    location, line = _location(frames)
    described = _describe_signal(signum)
    where = f" in {location}, line {line}" if location else ""
    # Without a faulthandler dump the last line is the best clue (e.g. a C++ "what():").
    last = "" if frames else _last_line(lines)
    summary = f"died of signal {name}{described}{where}" + (f"; last line: {last}" if last else "")
    return Classified(
        kind=FailureKind.SIGNAL,
        signature=_signature(FailureKind.SIGNAL, name, location, ""),
        summary=_clip(summary, SUMMARY_CHARS),
        frames=frames,
        location=location,
        line=line,
        repairable=signum not in _OUTSIDE_STOPS,
    )


def _signal_name(signum: int) -> str:
    try:
        return Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


def _describe_signal(signum: int) -> str:
    try:
        text = strsignal(signum)
    except ValueError:
        return ""
    return f" ({text})" if text else ""


def _faulthandler_frames(lines: Sequence[str], project_dir: Path) -> tuple[Frame, ...]:
    """Frames of Python's faulthandler dump (innermost first there), outermost first here."""
    start = next((i for i in range(len(lines) - 1, -1, -1) if _FAULT_HEADER.match(lines[i])), None)
    if start is None:
        return ()
    frames: list[Frame] = []
    for text in lines[start + 1 :]:
        match = _FAULT_FRAME.match(text)
        if match is None:
            break
        frames.append(_frame(match, project_dir))
    return tuple(reversed(frames))


def _frame(match: re.Match[str], project_dir: Path) -> Frame:
    path = match.group("path")
    return Frame(
        path=path,
        line=int(match.group("line")),
        function=match.group("func") or "<module>",
        relpath=_relpath(path, project_dir),
    )


def _relpath(path: str, project_dir: Path) -> str | None:
    if path.startswith("<"):  # <string>, <frozen runpy>, <stdin>
        return None
    root = PurePosixPath(os.path.normpath(project_dir))
    full = PurePosixPath(os.path.normpath(os.path.join(root, path)))
    try:
        rel = full.relative_to(root)
    except ValueError:
        return None
    parts = rel.parts
    if not parts or _is_library(parts):
        return None
    return rel.as_posix()


def _is_library(parts: Sequence[str]) -> bool:
    if any(
        part in {"site-packages", "dist-packages", ".venv", "venv", ".tox", ".nox"}
        for part in parts
    ):
        return True
    # A virtualenv or conda env kept inside the project: <env>/lib/python3.11/...
    return any(
        a == "lib" and re.fullmatch(r"python\d+(?:\.\d+)?", b) for a, b in itertools.pairwise(parts)
    )


def _last_traceback(
    ranked: Sequence[tuple[str | None, str]], project_dir: Path
) -> _Traceback | None:
    """The last complete traceback, skipping a launcher's wrapper around a child's traceback."""
    starts = [i for i, (_, text) in enumerate(ranked) if _HEADER.match(text)]
    if not starts:
        first = next((i for i, (_, text) in enumerate(ranked) if _FRAME.match(text)), None)
        starts = [] if first is None else [first]
    found: _Traceback | None = None
    for start in reversed(starts):
        tb = _parse_block(ranked, start, project_dir)
        if tb is None:
            return found
        if found is None:
            found = tb
        if tb.exc_type.rsplit(".", 1)[-1] not in _WRAPPERS:
            return tb
    return found


def _parse_block(
    ranked: Sequence[tuple[str | None, str]], start: int, project_dir: Path
) -> _Traceback | None:
    """Frames and the exception line after them, tolerating unrelated lines in between."""
    rank = ranked[start][0]
    first = start + 1 if _HEADER.match(ranked[start][1]) else start
    frames: list[Frame] = []
    candidates: list[tuple[int, re.Match[str]]] = []  # (frames seen before it, the line)
    for line_rank, text in ranked[first:]:
        if line_rank != rank:  # another rank's output interleaved with this one's
            continue
        if _HEADER.match(text):
            break
        frame = _FRAME.match(text)
        if frame is not None:
            frames.append(_frame(frame, project_dir))
            continue
        exc = _EXC_LINE.match(text)
        if frames and exc is not None and re.search(r"[a-z]", exc.group("type").rsplit(".")[-1]):
            candidates.append((len(frames), exc))
    chosen = _choose(candidates, len(frames))
    if chosen is None:
        return None
    seen, exc = chosen
    message = (exc.group("msg") or "").strip()
    return _Traceback(
        start=start, exc_type=exc.group("type"), message=message, frames=tuple(frames[:seen])
    )


def _choose(
    candidates: Sequence[tuple[int, re.Match[str]]], frames: int
) -> tuple[int, re.Match[str]] | None:
    """Python prints the exception line right after the frames; pick it among log noise."""
    last = max((seen for seen, _ in candidates), default=0)
    group = [match for seen, match in candidates if seen == last]
    if last < frames:
        # More frames follow: either the exception quotes them (torch.compile's "from user
        # code:") or the line was noise and the tail was cut before the real exception line.
        group = [m for m in group if _EXC_SUFFIX.search(m["type"]) or "." in m["type"]]
    # After the last frame a log line such as "Epoch: 3" may slip in before the real line.
    named = [m for m in group if _EXC_SUFFIX.search(m["type"])]
    chosen = named[0] if named else group[0] if group else None
    return None if chosen is None else (last, chosen)
