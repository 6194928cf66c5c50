"""Unified diffs as models write them: split per file, read headers, parse hunks leniently.

Models miscount ``@@`` headers, drop the line numbers (``@@ ... @@``) and lose the space on
blank context lines, so hunks are recounted from their bodies and the numbers kept only as a
hint of where to look. unidiff rejects such hunks outright, which is why this parser exists.
"""

from __future__ import annotations

__all__ = [
    "DEV_NULL",
    "MAX_HUNKS",
    "MAX_HUNK_LINES",
    "FileDiff",
    "Hunk",
    "ParsedDiff",
    "parse_diff",
    "split_files",
]

import re
from dataclasses import dataclass

DEV_NULL = "/dev/null"
# Bounds on what locating hunks may cost; a real repair is far smaller (50 changed lines).
MAX_HUNKS = 100
MAX_HUNK_LINES = 1000

_NUMBERS = re.compile(r"^@@\s*-(\d+)(?:,\d+)?\s+\+\d+(?:,\d+)?\s*@@")
# git's extended header lines: never hunk body lines, so dropping them is safe.
_GIT_HEADERS = (
    "diff ",
    "index ",
    "new file mode",
    "deleted file mode",
    "similarity index",
    "rename from",
    "rename to",
    "old mode",
    "new mode",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDiff:
    """One file's section of a (possibly multi-file) diff, headers included."""

    old: str  # header path, cleaned ("a/" stripped) or /dev/null
    new: str
    text: str

    def target(self) -> tuple[str, str]:
        """``(path, "")``: the file this section edits; ``("", why)`` when it is not one."""
        if self.new == DEV_NULL:
            return "", f"deleting files is not supported ({self.old!r})"
        if self.old not in (DEV_NULL, self.new):
            return "", f"renames are not supported ({self.old!r} -> {self.new!r})"
        if not self.new:
            return "", "a ---/+++ header names no file"
        return self.new, ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hunk:
    old_start: int | None  # 1-based as written; None when the header has no numbers
    ops: tuple[tuple[str, str], ...]  # (" " | "-" | "+", line text without its ending)
    no_final_newline: bool = False  # "\ No newline at end of file" after the new side's end

    @property
    def old(self) -> list[str]:
        return [text for op, text in self.ops if op != "+"]

    @property
    def new(self) -> list[str]:
        return [text for op, text in self.ops if op != "-"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedDiff:
    old: str | None  # header paths, None when the diff has no ---/+++ header
    new: str | None
    hunks: tuple[Hunk, ...]

    @property
    def creates(self) -> bool:
        return self.old == DEV_NULL


def _lines(text: str) -> list[str]:
    # Replies arrive with CRLF as often as LF; the file's own endings are kept elsewhere.
    return [line.removesuffix("\r") for line in text.split("\n")]


def clean_header(raw: str) -> str:
    """``a/train.py\\t2024-01-01`` -> ``train.py``."""
    path = raw.split("\t", 1)[0].strip()
    if len(path) >= 2 and path[0] == path[-1] == '"':
        path = path[1:-1]
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return path


def split_files(text: str) -> list[FileDiff] | str:
    """Split a diff into per-file sections at each ``---``/``+++`` header pair.

    A diff without headers (hunks only) is ``[]``: the caller knows the file from elsewhere.
    """
    lines = _lines(text)
    sections: list[tuple[str, str, list[str]]] = []
    orphan = False  # a hunk before any header: fine alone, not before a header
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = clean_header(line[4:]), clean_header(lines[i + 1][4:])
            sections.append((old, new, [line, lines[i + 1]]))
            i += 2
            continue
        if sections:
            sections[-1][2].append(line)
        else:
            orphan = orphan or line.startswith("@@")
        i += 1
    if orphan and sections:
        return "a hunk comes before the ---/+++ header naming its file"
    return [FileDiff(old=o, new=n, text="\n".join(body)) for o, n, body in sections]


def _body_line(line: str) -> tuple[str, str] | None:
    if line == "":
        return (" ", "")  # a blank context line whose leading space was lost
    if line[0] in " -+":
        return (line[0], line[1:])
    return None


def _chunks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """``(@@ line, body lines)`` per hunk; prose and git headers outside hunks dropped."""
    chunks: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("@@"):
            chunks.append((line, []))
        elif chunks and not line.startswith(_GIT_HEADERS):
            chunks[-1][1].append(line)
    return chunks


def _hunk(header: str, body: list[str], n: int) -> Hunk | str:
    numbers = _NUMBERS.match(header)
    ops: list[tuple[str, str]] = []
    blank_tail, no_eol = 0, False
    for line in body:
        if line.startswith("\\"):  # "\ No newline at end of file": about the line before
            no_eol = no_eol or (bool(ops) and ops[-1][0] != "-")
            continue
        op = _body_line(line)
        if op is None:
            return f"hunk {n} has a line not starting with ' ', '+' or '-': {line[:60]!r}"
        blank_tail = blank_tail + 1 if line == "" else 0
        ops.append(op)
    # Blank lines at a hunk's end are usually the reply's trailing newlines, not context.
    ops = ops[: len(ops) - blank_tail]
    if not ops:
        return f"hunk {n} is empty"
    if len(ops) > MAX_HUNK_LINES:
        return f"hunk {n} has {len(ops)} lines; at most {MAX_HUNK_LINES}"
    start = int(numbers.group(1)) if numbers else None
    return Hunk(old_start=start, ops=tuple(ops), no_final_newline=no_eol)


def parse_diff(text: str) -> ParsedDiff | str:
    """Headers and recounted hunks of a one-file diff, or why it cannot be read."""
    sections = split_files(text)
    if isinstance(sections, str):
        return sections
    if len(sections) > 1:
        return "the diff names more than one file; send one patch per file"
    old = new = None
    body = _lines(text)
    if sections:
        old, new = sections[0].old, sections[0].new
        body = _lines(sections[0].text)[2:]
    chunks = _chunks(body)
    if len(chunks) > MAX_HUNKS:
        return f"the diff has {len(chunks)} hunks; at most {MAX_HUNKS}"
    hunks: list[Hunk] = []
    for n, (header, chunk) in enumerate(chunks, 1):
        hunk = _hunk(header, chunk, n)
        if isinstance(hunk, str):
            return hunk
        hunks.append(hunk)
    if not hunks:
        return "the diff has no hunks (no '@@' line)"
    return ParsedDiff(old=old, new=new, hunks=tuple(hunks))
