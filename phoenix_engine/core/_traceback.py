"""Python tracebacks in a log tail: frames, the exception line, the rank that printed them.

``strip_prefix`` removes torch.distributed's ``[rankN]:`` / ``[defaultN]:`` prefix and says
which rank printed the line; a traceback is parsed from its own rank's lines only, so ranks that
print at the same time do not mix. A launcher's own traceback (torchrun's ``ChildFailedError``,
accelerate's ``CalledProcessError``) is skipped in favour of the child's traceback before it.
A DataLoader "Original Traceback" counts: it names the worker's real error.
"""

from __future__ import annotations

__all__ = [
    "Frame",
    "Ranked",
    "Traceback",
    "faulthandler_frames",
    "last_traceback",
    "location",
    "strip_prefix",
    "tracebacks",
]

import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from phoenix_engine.core.lines import strip_control

Ranked = tuple[str | None, str]  # (rank or None, the line without its prefix)

# torch.distributed prefixes each rank's output; torchrun --tee uses [defaultN]:.
_RANK = re.compile(r"^\[(?:rank|default)(\d+)\]:[ ]?")
_HEADER = re.compile(r"^\s*(?:Original )?Traceback \(most recent call last\):\s*$")
_FRAME = re.compile(r'^\s+File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+?))?\s*$')
_FAULT_HEADER = re.compile(r"^(?:Current thread|Thread) 0x[0-9a-fA-F]+ .*most recent call first")
_FAULT_FRAME = re.compile(r'^\s+File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<func>.+?)\s*$')
_EXC_LINE = re.compile(r"^(?P<type>(?:[A-Za-z_]\w*\.)*_*[A-Z]\w*)(?::(?: (?P<msg>.*))?)?$")
_EXC_SUFFIX = re.compile(r"(?:Error|Exception|Interrupt|Exit|Iteration|Warning|Failure|Failed)$")
_WRAPPERS = frozenset({"ChildFailedError", "CalledProcessError"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    path: str  # as printed in the traceback
    line: int
    function: str
    relpath: str | None  # path relative to the project dir when inside it (not site-packages)


@dataclass(frozen=True, slots=True, kw_only=True)
class Traceback:
    start: int  # index in the tail of its first line (header or first frame)
    exc_type: str
    message: str
    frames: tuple[Frame, ...]
    rank: str | None = None


def strip_prefix(line: str) -> Ranked:
    text = strip_control(line, keep_controls=True).rstrip("\r\n")
    match = _RANK.match(text) if text[:1] == "[" else None
    if match is None:
        return None, text
    return match.group(1), text[match.end() :]


def location(frames: Sequence[Frame]) -> tuple[str, int | None]:
    """``relpath:function`` and line of the innermost project frame, or ('', None)."""
    for frame in reversed(frames):
        if frame.relpath is not None:
            return f"{frame.relpath}:{frame.function}", frame.line
    return "", None


def last_traceback(ranked: Sequence[Ranked], project_dir: Path) -> Traceback | None:
    """The last complete traceback, skipping a launcher's wrapper around a child's traceback."""
    found: Traceback | None = None
    for start in reversed(_starts(ranked)):
        tb = _parse_block(ranked, start, project_dir)
        if tb is None:
            return found
        if found is None:
            found = tb
        if tb.exc_type.rsplit(".", 1)[-1] not in _WRAPPERS:
            return tb
    return found


def tracebacks(ranked: Sequence[Ranked], project_dir: Path) -> list[Traceback]:
    """Every complete traceback but launchers' wrappers, in the order they were printed."""
    found = (_parse_block(ranked, start, project_dir) for start in _starts(ranked))
    return [tb for tb in found if tb and tb.exc_type.rsplit(".", 1)[-1] not in _WRAPPERS]


def _starts(ranked: Sequence[Ranked]) -> list[int]:
    starts = [i for i, (_, t) in enumerate(ranked) if "Traceback (" in t and _HEADER.match(t)]
    if not starts:
        first = next((i for i, (_, text) in enumerate(ranked) if _FRAME.match(text)), None)
        starts = [] if first is None else [first]
    return starts


def faulthandler_frames(lines: Sequence[str], project_dir: Path) -> tuple[Frame, ...]:
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


def _parse_block(ranked: Sequence[Ranked], start: int, project_dir: Path) -> Traceback | None:
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
    return Traceback(
        start=start,
        exc_type=exc.group("type"),
        message=message,
        frames=tuple(frames[:seen]),
        rank=rank,
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
