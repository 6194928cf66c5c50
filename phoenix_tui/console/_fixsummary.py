"""What a patch does, in one line, read from its unified diff: pure, table-tested.

The patch queue shows this instead of hashes: where the first change is (``train.py:27``)
and what it changes, as small as the diff allows: a renamed name (``lerning_rate →
learning_rate``), a new value of a setting (``batch_size 16 → 8``), an added or removed line.
"""

from __future__ import annotations

__all__ = ["FixSummary", "summarize_diff"]

import difflib
import keyword
import re
from dataclasses import dataclass

from phoenix_engine.core.patches import parse_diff, split_files

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\S")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_WIDTH = 48


@dataclass(frozen=True, slots=True, kw_only=True)
class FixSummary:
    path: str = ""
    line: int | None = None
    text: str = ""

    @property
    def where(self) -> str:
        """``train.py:27``, ``train.py`` or ""."""
        if self.path and self.line is not None:
            return f"{self.path}:{self.line}"
        return self.path


@dataclass(slots=True)
class _Change:
    path: str
    line: int
    removed: list[str]
    added: list[str]


def _changes(diff: str) -> list[_Change]:
    """Each run of removed/added lines, with its file and its line in the old file (the diff
    read by the engine's own parser, one file section at a time)."""
    sections = split_files(diff)
    if isinstance(sections, str):
        return []
    out: list[_Change] = []
    for text in [section.text for section in sections] or [diff]:  # no header: one file
        parsed = parse_diff(text)
        if isinstance(parsed, str):
            continue
        path = parsed.new or ""
        for hunk in parsed.hunks:
            old_line, current = hunk.old_start or 1, None  # a new file's hunk starts at 0
            for op, line in hunk.ops:
                if op == " ":
                    current, old_line = None, old_line + 1
                    continue
                if current is None or (op == "-" and current.added):
                    current = _Change(path, old_line, [], [])
                    out.append(current)
                if op == "-":
                    current.removed.append(line)
                    old_line += 1
                else:
                    current.added.append(line)
    return out


def _short(text: str, width: int = _WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _name_before(tokens: list[str], index: int) -> str:
    """The nearest name left of ``tokens[index]`` (``batch_size`` in ``batch_size = 16``)."""
    for token in reversed(tokens[:index]):
        if _NAME.match(token) and not keyword.iskeyword(token) and token not in ("self",):
            return token
    return ""


def _one_line(old: str, new: str) -> str:
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    ops = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()]
    edits = [op for op in ops if op[0] != "equal"]
    if len(edits) != 1:
        return f"{_short(old.strip(), 22)} → {_short(new.strip(), 22)}"
    _, i1, i2, j1, j2 = edits[0]
    was, now = "".join(a[i1:i2]), "".join(b[j1:j2])
    if not was:
        return f"adds {_short(now)}"
    if not now:
        return f"removes {_short(was)}"
    if not _NAME.match(was) or not _NAME.match(now):  # a value changed: say of what
        name = _name_before(a, i1)
        if name:
            return f"{name} {_short(was, 20)} → {_short(now, 20)}"
    return f"{_short(was, 22)} → {_short(now, 22)}"


def _describe(change: _Change) -> str:
    removed = [line for line in change.removed if line.strip()]
    added = [line for line in change.added if line.strip()]
    if len(removed) == 1 and len(added) == 1:
        return _one_line(removed[0], added[0])
    if not removed:
        if not added:
            return "changes blank lines"
        more = f" (+{len(added) - 1} lines)" if len(added) > 1 else ""
        return f"adds {_short(added[0].strip())}{more}"
    if not added:
        more = f" (+{len(removed) - 1} lines)" if len(removed) > 1 else ""
        return f"removes {_short(removed[0].strip())}{more}"
    return f"rewrites {len(removed)} lines as {len(added)}"


def summarize_diff(diff: str) -> FixSummary:
    """The first change of ``diff`` in one line; "(+N more)" when there are others."""
    changes = _changes(diff)
    if not changes:
        return FixSummary()
    first = changes[0]
    text = _describe(first)
    if len(changes) > 1:
        text += f" (+{len(changes) - 1} more)"
    return FixSummary(path=first.path, line=first.line, text=text)
