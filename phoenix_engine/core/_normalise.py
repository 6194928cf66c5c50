"""Text that varies between runs of the same failure, removed: the basis of stable signatures.

``normalise`` removes numbers, sizes, paths, addresses and hashes and keeps identifiers and
quoted names; ``shape`` is the form of a log line without its values (a progress line at step
120 and at step 340 look alike); ``signature_of`` hashes the parts of a failure into 16 hex chars.
"""

from __future__ import annotations

__all__ = ["clip", "normalise", "shape", "signature_of"]

import hashlib
import re

from phoenix_engine.core.lines import strip_control

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


def normalise(text: str) -> str:
    """Replace what varies between runs of the same failure; keep identifiers and quoted names."""
    text = strip_control(text, keep_controls=True)  # whitespace still splits words
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


def shape(line: str) -> str:
    """The form of a log line without its values: step 120/1000 and step 340/1000 look alike."""
    text = _BAR.sub("|BAR|", strip_control(line, keep_controls=True))
    text = _ADDR.sub("X", _UUID.sub("X", text))
    text = _SHAPE_NUMBER.sub("N", _HEX_HASH.sub("X", text))
    return _SPACE.sub(" ", text).strip()


def signature_of(kind: str, exc_type: str, location: str, message: str) -> str:
    return hashlib.sha256(f"{kind}|{exc_type}|{location}|{message}".encode()).hexdigest()[:16]


def clip(text: str, limit: int) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
