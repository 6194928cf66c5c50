"""Matching the class table (:mod:`phoenix_engine.core.triage`) against a tail, in well under a ms.

Each row is searched only in windows (whole lines) around its key words, found by plain
substring search of the lower-cased text; of the rows that match, the most specific wins, and
of equals the one matched last. ``before`` (the lines before the last traceback) counts only
for the machine's own evidence (ECC, Xid, driver), which no caught exception can explain away.
"""

from __future__ import annotations

__all__ = ["Found", "advice_for", "match"]

import re
from dataclasses import dataclass

from phoenix_engine.core.triage import RULES, Rule

_WINDOW = 300  # characters searched on each side of a key (a wrapped message stays inside)


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    rule: Rule
    text: str  # the matched text, one line
    detail: str  # the pattern's ``detail`` group, or ''


_MACHINE_ROWS = tuple(r for r in RULES if r.anywhere)
_PIP = {
    "cv2": "opencv-python", "PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml",
    "flash_attn": "flash-attn", "apex": "apex (built from source)", "bs4": "beautifulsoup4",
    "google.protobuf": "protobuf", "sentencepiece": "sentencepiece", "Crypto": "pycryptodome",
}  # fmt: skip


def match(text: str, before: str = "") -> Found | None:
    """The most specific row matching ``text`` (the root cause's lines); of equals, the last.
    ``before`` (the lines before the traceback) counts for the machine's own evidence only."""
    best: tuple[int, int, Rule, re.Match[str], str] | None = None  # (spec, at, rule, m, text)
    for where, rows in ((before, _MACHINE_ROWS), (text, RULES)):
        if not where:
            continue
        low = where.lower()
        for rule in rows:
            for m in _hits(rule, where, low):
                at = m.start() + (len(before) if where is text else 0)
                if best is None or (rule.specificity, at) >= best[:2]:
                    best = (rule.specificity, at, rule, m, where)
    if best is None:
        return None
    _, _, rule, m, where = best
    start = where.rfind("\n", 0, m.start()) + 1
    end = where.find("\n", m.end())
    line = where[start : end if end >= 0 else len(where)]
    groups = [v for v in m.groupdict().values() if v]
    detail = groups[0] if groups else m.group(0)
    return Found(rule=rule, text=line.strip(), detail=detail.strip())


def _hits(rule: Rule, text: str, low: str) -> list[re.Match[str]]:
    """Matches of ``rule`` in windows (whole lines) around each occurrence of its keys."""
    found: list[re.Match[str]] = []
    for key in rule.keys:
        at = low.find(key)
        while at != -1:
            start = text.rfind("\n", 0, max(0, at - _WINDOW)) + 1
            end = text.find("\n", at + _WINDOW)
            m = rule.pattern.search(text, start, end if end >= 0 else len(text))
            while m is not None:
                found.append(m)
                m = rule.pattern.search(text, m.end(), end if end >= 0 else len(text))
            at = low.find(key, end if end >= 0 else len(text))
    return found


def advice_for(found: Found) -> str:
    """The owner's sentence for a matched row."""
    top = found.detail.split(".")[0]
    package = _PIP.get(found.detail) or _PIP.get(top) or ""
    pip = ""
    if found.rule.cause == "module":
        pip = f" (pip install {package or top.replace('_', '-')})"
    return found.rule.advice.format(detail=found.detail, pip=pip)
