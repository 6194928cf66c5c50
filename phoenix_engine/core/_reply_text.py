"""Finding the machine-readable parts of a model's reply: markdown fences and JSON values.

Text level only (no patch types): :mod:`phoenix_engine.core.patches` decides what the pieces mean.
Everything here is linear in the reply's size, whatever the reply contains.
"""

from __future__ import annotations

__all__ = ["Fence", "JsonFound", "find_fences", "find_json", "prose"]

import json
import re
from dataclasses import dataclass
from typing import Any

_OPEN = re.compile(r"^([ \t]{0,3})(`{3,}|~{3,})[ \t]*([^\s`]*)")
_DIFF_LANGS = frozenset({"diff", "patch", "udiff"})
# Where a schema-shaped JSON value may start inside prose: trying every '{' would be
# quadratic on hostile input, so only these openings are tried, and only this many.
_START = re.compile(r'\{\s*"(?:diagnosis|patches)"|\[\s*\{\s*"(?:type|path)"')
_MAX_STARTS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Fence:
    lang: str  # lower-cased info string's first word, "" when none
    body: str
    first: int  # index of the opening line
    last: int  # index of the closing line (or of the last line when not closed)
    closed: bool

    @property
    def is_diff(self) -> bool:
        if self.lang in _DIFF_LANGS:
            return True
        if self.lang:
            return False
        starts = {line[:3] for line in self.body.split("\n")}
        return {"---", "+++", "@@ "} <= starts or {"---", "+++", "@@"} <= starts


def find_fences(text: str) -> list[Fence]:
    lines = text.split("\n")
    fences: list[Fence] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, marker, lang = m.group(1), m.group(2), m.group(3).lower()
        # The closer must sit where the opener did: a diff's context line " ```" (a markdown
        # docstring) would otherwise end the fence mid-hunk and leave half a change.
        fence = re.escape(indent) + re.escape(marker[0]) + f"{{{len(marker)},}}"
        close = re.compile(rf"^{fence}[ \t]*\r?$")
        end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j])), None)
        last = len(lines) - 1 if end is None else end
        body = "\n".join(lines[i + 1 : last + (end is None)])
        fences.append(Fence(lang=lang, body=body, first=i, last=last, closed=end is not None))
        i = last + 1
    return fences


def prose(text: str, fences: list[Fence]) -> str:
    """The reply without its fences: the diagnosis of a diff-fence reply."""
    lines = text.split("\n")
    drop = {j for f in fences for j in range(f.first, f.last + 1)}
    kept = "\n".join(line.rstrip() for j, line in enumerate(lines) if j not in drop)
    return re.sub(r"\n{3,}", "\n\n", kept).strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonFound:
    value: Any = None  # a dict with diagnosis/patches, or a list: the first schema-shaped value
    error: str = ""  # why the first JSON-looking candidate did not decode, when none did


def _shaped(value: Any) -> bool:
    if isinstance(value, dict):
        return "patches" in value or "diagnosis" in value
    return isinstance(value, list)


def _decode(text: str) -> tuple[Any, str]:
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "the JSON is nested too deeply"
    return value, ""


def _candidates(text: str, fences: list[Fence]) -> list[str]:
    stripped = text.strip()
    found = [stripped] if stripped[:1] in ("{", "[") else []
    for fence in fences:
        body = fence.body.strip()
        if fence.lang == "json" or (not fence.lang and body[:1] in ("{", "[")):
            found.append(body)
    # Code inside fences (a diff adding `x = [{"type": 1}]`) is not the reply's JSON.
    outside = prose(text, fences)
    for n, m in enumerate(_START.finditer(outside)):
        if n >= _MAX_STARTS:
            break
        found.append(outside[m.start() :])
    return found


def find_json(text: str, fences: list[Fence]) -> JsonFound:
    """The first schema-shaped JSON value: whole reply, then fenced, then embedded in prose."""
    first_error = ""
    for candidate in _candidates(text, fences):
        value, error = _decode(candidate)
        if error:
            first_error = first_error or error
        elif _shaped(value):
            return JsonFound(value=value)
    return JsonFound(error=first_error)
