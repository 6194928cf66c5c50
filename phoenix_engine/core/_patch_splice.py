"""Where hunks go in a file, and splicing new lines in while keeping the file's line endings.

A file is a list of ``(content, ending)`` pairs split on ``\\n`` only (``str.splitlines`` would
also split on form feeds and other separators Python source may contain). Hunks are located
exactly at their stated line, else by their context near it, else ignoring whitespace; two
equally good places is a refusal, never a guess.
"""

from __future__ import annotations

__all__ = ["Edit", "Line", "default_ending", "hunk_edits", "splice", "split_text"]

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from phoenix_engine.core._patch_udiff import Hunk

Line = tuple[str, str]  # (content, ending): ending is "\n", "\r\n" or "" on a last line

# How far (in lines) from the stated position a unique match is trusted when the same
# context also occurs further away.
NEAR = 15


@dataclass(frozen=True, slots=True, kw_only=True)
class Edit:
    """Replace lines[start:stop] by ``lines``: an int keeps that original line, a str is new."""

    start: int
    stop: int
    lines: tuple[int | str, ...]
    no_final_newline: bool = False


def split_text(text: str) -> list[Line]:
    parts = text.split("\n")
    last = parts.pop()
    lines = [(p[:-1], "\r\n") if p.endswith("\r") else (p, "\n") for p in parts]
    if last:
        lines.append((last, ""))
    return lines


def default_ending(lines: Sequence[Line]) -> str:
    crlf = sum(1 for _, end in lines if end == "\r\n")
    lf = sum(1 for _, end in lines if end == "\n")
    return "\r\n" if crlf > lf else "\n"


def _squash(line: str) -> str:
    return " ".join(line.split())


class _Index:
    """The file's lines, exact and with whitespace squashed, each indexed by line content, so a
    hunk is only compared where its first line occurs (hostile replies can be large)."""

    __slots__ = ("_lines", "_where")

    def __init__(self, content: Sequence[str]) -> None:
        self._lines = (list(content), [_squash(line) for line in content])
        self._where: tuple[dict[str, list[int]], dict[str, list[int]]] = ({}, {})
        for lines, where in zip(self._lines, self._where, strict=True):
            for i, line in enumerate(lines):
                where.setdefault(line, []).append(i)

    @property
    def empty(self) -> bool:
        return not self._lines[0]

    def at(self, i: int, old: Sequence[str]) -> bool:
        return self._lines[0][i : i + len(old)] == list(old)

    def find(self, old: Sequence[str], lo: int, *, loose: bool) -> list[int]:
        want = [_squash(line) for line in old] if loose else list(old)
        which = 1 if loose else 0
        lines, where = self._lines[which], self._where[which]
        return [i for i in where.get(want[0], ()) if i >= lo and lines[i : i + len(want)] == want]


def _pick(found: list[int], expected: int | None) -> int | str | None:
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    if expected is not None:
        near = [i for i in found if abs(i - expected) <= NEAR]
        if len(near) == 1:
            return near[0]
    where = " and ".join(str(i + 1) for i in found[:2])
    return f"matches at lines {where} equally well; it needs more context to be placed"


def _locate(index: _Index, hunk: Hunk, expected: int | None, lo: int) -> int | str:
    old = hunk.old
    if not old:
        if index.empty:
            return 0
        return "adds lines with no context or removed lines to anchor them; include unchanged lines"
    if expected is not None and lo <= expected and index.at(expected, old):
        return expected
    for loose in (False, True):
        found = _pick(index.find(old, lo, loose=loose), expected)
        if found is not None:
            return found
    adds = any(op == "+" for op, _ in hunk.ops)
    if adds and hunk.new and hunk.new != old and index.find(hunk.new, 0, loose=True):
        return "does not match the file; the change looks applied already"
    return f"does not match the file anywhere (first line: {old[0][:60]!r})"


def _lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(hunk_old: Sequence[str], file_old: Sequence[str]) -> Callable[[str], str]:
    """When context matched only ignoring whitespace, shift added lines the way it was off."""
    pairs = [(_lead(h), _lead(f)) for h, f in zip(hunk_old, file_old, strict=True) if h.strip()]
    if not pairs or all(h == f for h, f in pairs):
        return lambda line: line
    h0, f0 = pairs[0]
    if all(f.endswith(h) and f[: len(f) - len(h)] == f0[: len(f0) - len(h0)] for h, f in pairs):
        extra = f0[: len(f0) - len(h0)]
        return lambda line: extra + line if line.strip() else line
    if all(h.endswith(f) and h[: len(h) - len(f)] == h0[: len(h0) - len(f0)] for h, f in pairs):
        cut = h0[: len(h0) - len(f0)]
        return lambda line: line.removeprefix(cut)
    return lambda line: line


def _edit(hunk: Hunk, at: int, content: Sequence[str]) -> Edit:
    stop = at + len(hunk.old)
    shift = _reindent(hunk.old, content[at:stop])
    out: list[int | str] = []
    i = at
    for op, text in hunk.ops:
        if op == "+":
            out.append(shift(text))
            continue
        if op == " ":
            out.append(i)  # the file's own line: keeps its whitespace and ending
        i += 1
    return Edit(start=at, stop=stop, lines=tuple(out), no_final_newline=hunk.no_final_newline)


def hunk_edits(lines: Sequence[Line], hunks: Sequence[Hunk]) -> list[Edit] | str:
    """Place every hunk (in order, not overlapping) or say which one cannot be placed."""
    content = [c for c, _ in lines]
    index = _Index(content)
    edits: list[Edit] = []
    lo, drift = 0, 0
    for n, hunk in enumerate(hunks, 1):
        expected = None if hunk.old_start is None else max(hunk.old_start - 1 + drift, 0)
        at = _locate(index, hunk, expected, lo)
        if isinstance(at, str):
            return f"hunk {n} {at}"
        if hunk.old_start is not None:
            # Later hunks' numbers are usually off by the same amount (patch(1) does this too).
            drift = at - (hunk.old_start - 1)
        edits.append(_edit(hunk, at, content))
        lo = at + len(hunk.old)
    return edits


def splice(lines: Sequence[Line], edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (in order) and rebuild the text."""
    ending = default_ending(lines)
    out: list[tuple[str, str, bool]] = []  # content, ending, new
    pos = 0
    no_eol = False
    for edit in edits:
        out.extend((*lines[i], False) for i in range(pos, edit.start))
        for item in edit.lines:
            out.append((*lines[item], False) if isinstance(item, int) else (item, ending, True))
        pos = edit.stop
        no_eol = edit.no_final_newline and edit.stop == len(lines)
    out.extend((*lines[i], False) for i in range(pos, len(lines)))
    parts = [content + (end or ending) for content, end, _ in out[:-1]]
    if out:
        content, end, new = out[-1]
        # A missing final newline stays missing unless the patch changed the last line.
        parts.append(content + ("" if no_eol else ending if new else end))
    return "".join(parts)
