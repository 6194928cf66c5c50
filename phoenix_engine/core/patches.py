"""A model's reply as patches, and applying one patch to a file's text.

Two reply forms are always accepted, whatever the prompt asked for: the JSON schema
(``{"diagnosis": ..., "patches": [...]}``, a bare array of patches, bare or fenced with prose
around it), and prose with ```` ```diff ```` fences, because code escaped inside JSON measurably
degrades models' edits (aider's benchmarks). Only two kinds of patch exist: a unified diff and
a replacement of lines ``start_line..end_line`` (1-based, inclusive). Pure: no I/O.
"""

from __future__ import annotations

__all__ = [
    "MAX_PATCHES",
    "MAX_REPLY_CHARS",
    "Applied",
    "FilePatch",
    "ParseFailure",
    "Refused",
    "ReplaceRangePatch",
    "Reply",
    "UnifiedDiffPatch",
    "apply_patch",
    "changed_lines",
    "parse_diff",
    "parse_reply",
    "split_files",
]

from dataclasses import dataclass
from typing import Any, TypeGuard

from phoenix_engine.core import _patch_splice as splice
from phoenix_engine.core._changed_lines import DEFAULT_CAP
from phoenix_engine.core._changed_lines import changed_lines as _changed_lines
from phoenix_engine.core._patch_udiff import parse_diff, split_files
from phoenix_engine.core._reply_text import Fence, find_fences, find_json, prose

MAX_REPLY_CHARS = 1_000_000
MAX_PATCHES = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class UnifiedDiffPatch:
    path: str
    diff: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceRangePatch:
    path: str
    start_line: int  # 1-based, inclusive; end_line = start_line - 1 inserts before start_line
    end_line: int
    replacement: str
    original: str | None = None  # when given, must match the lines being replaced


FilePatch = UnifiedDiffPatch | ReplaceRangePatch


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    diagnosis: str
    patches: tuple[FilePatch, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseFailure:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    reason: str


def parse_reply(text: str) -> Reply | ParseFailure:
    """Read a reply in either form; never raises, whatever ``text`` holds."""
    if not isinstance(text, str):
        return ParseFailure(reason="the reply is not text")
    if len(text) > MAX_REPLY_CHARS:
        return ParseFailure(reason=f"the reply is {len(text):,} characters, over the 1 MB limit")
    if "\x00" in text:
        return ParseFailure(reason="the reply contains NUL characters: binary data, not a patch")
    if not text.strip():
        return ParseFailure(reason="the reply is empty")
    fences = find_fences(text)
    found = find_json(text, fences)
    from_json = _from_json(found.value) if found.value is not None else None
    if isinstance(from_json, ParseFailure) or (from_json is not None and from_json.patches):
        return from_json
    from_fences = _from_fences(text, fences)
    if from_fences is None:
        if from_json is not None:
            return from_json
        why = f"its JSON is invalid ({found.error})" if found.error else "it has neither"
        return ParseFailure(reason=f"the reply needs a JSON object or ```diff fences; {why}")
    if isinstance(from_fences, Reply) and from_json is not None and from_json.diagnosis:
        return Reply(diagnosis=from_json.diagnosis, patches=from_fences.patches)
    return from_fences


def _from_json(value: Any) -> Reply | ParseFailure:
    if isinstance(value, list):
        diagnosis, items = "", value
    else:
        diagnosis, items = value.get("diagnosis", ""), value.get("patches", [])
    diagnosis, items = ("" if diagnosis is None else diagnosis), ([] if items is None else items)
    if not isinstance(diagnosis, str):
        return ParseFailure(reason="'diagnosis' must be a string")
    if not isinstance(items, list):
        return ParseFailure(reason="'patches' must be a list")
    if len(items) > MAX_PATCHES:
        return ParseFailure(reason=f"the reply has {len(items)} patches; at most {MAX_PATCHES}")
    patches: list[FilePatch] = []
    for n, item in enumerate(items, 1):
        patch = _patch_from_json(item)
        if isinstance(patch, str):
            return ParseFailure(reason=f"patch {n}: {patch}")
        patches.append(patch)
    return Reply(diagnosis=diagnosis.strip(), patches=tuple(patches))


def _patch_from_json(item: Any) -> FilePatch | str:
    if not isinstance(item, dict):
        return "must be an object"
    path, kind = item.get("path"), item.get("type")
    if kind is None:
        kind = "unified_diff" if "diff" in item else "replace_range"
    if not isinstance(path, str) or not path:
        return "'path' must be a non-empty string"
    if kind == "unified_diff":
        return _diff_from_json(path, item.get("diff"))
    if kind == "replace_range":
        return _range_from_json(path, item)
    return f"type {str(kind)[:40]!r} is not allowed; only unified_diff and replace_range"


def _diff_from_json(path: str, diff: Any) -> FilePatch | str:
    if not isinstance(diff, str) or not diff.strip():
        return "'diff' must be a non-empty string"
    sections = split_files(diff)
    if isinstance(sections, str):
        return sections
    if len(sections) > 1:
        return "its diff names more than one file; send one patch per file"
    named, why = sections[0].target() if sections else (path, "")
    if why or named != path:
        return why or f"'path' is {path!r} but its diff names {named!r}"
    return UnifiedDiffPatch(path=path, diff=diff)


def _range_from_json(path: str, item: dict[str, Any]) -> FilePatch | str:
    start, end = item.get("start_line"), item.get("end_line")
    replacement, original = item.get("replacement"), item.get("original")
    if not (_whole(start) and _whole(end)):
        return "'start_line' and 'end_line' must be whole numbers"
    if not isinstance(replacement, str):
        return "'replacement' must be a string"
    if original is not None and not isinstance(original, str):
        return "'original' must be a string when given"
    return ReplaceRangePatch(
        path=path, start_line=start, end_line=end, replacement=replacement, original=original
    )


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _from_fences(text: str, fences: list[Fence]) -> Reply | ParseFailure | None:
    diffs = [f for f in fences if f.is_diff]
    if not diffs:
        return None
    if not all(f.closed for f in diffs):
        return ParseFailure(reason="a ```diff fence is not closed: the reply looks cut off")
    patches: list[FilePatch] = []
    for fence in diffs:
        sections = split_files(fence.body)
        if isinstance(sections, str):
            return ParseFailure(reason=sections)
        if not sections:
            return ParseFailure(reason="each ```diff fence needs ---/+++ headers naming its file")
        for section in sections:
            path, why = section.target()
            if why:
                return ParseFailure(reason=why)
            patches.append(UnifiedDiffPatch(path=path, diff=section.text))
    if len(patches) > MAX_PATCHES:
        return ParseFailure(reason=f"the reply has {len(patches)} patches; at most {MAX_PATCHES}")
    return Reply(diagnosis=prose(text, fences), patches=tuple(patches))


def apply_patch(text: str | None, patch: FilePatch) -> Applied | Refused:
    """Apply one patch to a file's text (None: the file does not exist); whole or not at all."""
    lines = splice.split_text(text or "")
    if isinstance(patch, ReplaceRangePatch):
        edits: list[splice.Edit] | str = _range_edit(lines, patch)
    else:
        parsed = parse_diff(patch.diff)
        if isinstance(parsed, str):
            return Refused(reason=parsed)
        if parsed.creates and text:
            return Refused(reason=f"the patch creates {patch.path!r}, which already exists")
        if text is None and any(hunk.old for hunk in parsed.hunks):
            return Refused(reason=f"{patch.path!r} does not exist")
        edits = splice.hunk_edits(lines, parsed.hunks)
    if isinstance(edits, str):
        return Refused(reason=edits)
    result = splice.splice(lines, edits)
    if result == (text or ""):
        return Refused(reason="the patch changes nothing")
    return Applied(text=result)


def _range_edit(lines: list[splice.Line], patch: ReplaceRangePatch) -> list[splice.Edit] | str:
    start, end, total = patch.start_line, patch.end_line, len(lines)
    if not 1 <= start <= end + 1 or end > total:
        return (
            f"lines {start}-{end} are not a range of this {total}-line file "
            "(1-based, inclusive; end_line = start_line - 1 inserts)"
        )
    if patch.original is not None:
        have = [content.rstrip() for content, _ in lines[start - 1 : end]]
        want = [line.rstrip() for line in _text_lines(patch.original)]
        if have != want:
            return f"'original' does not match lines {start}-{end} of the file"
    new = tuple(line.removesuffix("\r") for line in _text_lines(patch.replacement))
    return [splice.Edit(start=start - 1, stop=end, lines=new)]


def _text_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start another
    return lines


def changed_lines(before: str, after: str, *, cap: int = DEFAULT_CAP) -> int:
    """Per changed block, the larger of lines added and removed, summed; Python's lines
    (a lone ``\\r`` ends one); any value above ``cap`` means "more than cap". Linear in the
    files' length for a fixed cap (see :mod:`phoenix_engine.core._changed_lines`)."""
    return _changed_lines(before, after, cap=cap)
