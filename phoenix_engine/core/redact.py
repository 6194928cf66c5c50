"""Scrub secrets from text before it leaves the process or reaches disk.

Two kinds of secret: values we know (environment variables whose names say KEY, TOKEN,
SECRET, PASSWORD or WEBHOOK, and the settings' own keys), and token shapes we recognise
anywhere (Google ``AIza...``, OpenAI-style ``sk-...``, Hugging Face ``hf_...``, Discord bot
tokens, webhook URLs and the bare 68-character webhook token, bearer headers, the userinfo of
a URL such as ``https://user:pass@host``). Known values are replaced wherever they occur.

Training output is too plentiful for the full scan on every byte: :meth:`Redactor.redact_lines`
first asks a cheap byte-level question (could any known value or shape be in here at all?) and
scans with the regular expression only the batches where the answer is yes.
"""

from __future__ import annotations

__all__ = ["MASK", "SECRET_NAME", "Redactor", "mask_userinfo", "redact_fields"]

import dataclasses
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

_T = TypeVar("_T")

MASK = "[REDACTED]"

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|WEBHOOK|CREDENTIAL", re.IGNORECASE)

# Values shorter than this are not secrets worth masking (and masking "1" would wreck logs).
_MIN_VALUE_LEN = 6

_SHAPES = (
    r"AIza[0-9A-Za-z_\-]{30,}",
    r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}",
    r"\bhf_[A-Za-z0-9]{20,}",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/[\w\-]+",
    r"\b[MNO][A-Za-z\d_\-]{23,27}\.[A-Za-z\d_\-]{6}\.[A-Za-z\d_\-]{27,40}",
    r"(?i:\b(?:bearer|bot)\s+)[A-Za-z0-9._~+/\-]{16,}=*",
    r"(?i:x-goog-api-key\s*[:=]\s*)\S+",
    r"(?i:[?&](?:key|token|api_key|access_token)=)[^\s&\"']+",
    r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{68}(?![A-Za-z0-9_\-])",  # a webhook token without its URL
    r"(?<=://)[^\s/@:]+:[^\s/@]+(?=@)",  # https://user:password@host
    r"(?<=://)[A-Za-z0-9_\-]{20,}(?=@)",  # https://TOKEN@host
)

# The cheap pre-check. Shapes whose secret part may be short need their label (on lower-cased
# bytes); every other shape holds 16 token characters in a row, and only output with such a
# run is searched for their prefixes.
_LABELS = (b"key", b"token=", b"bearer")  # ?key= api_key= x-goog-api-key ?token= Bearer
_PREFIXES = (b"sk-", b"hf_", b"aiza", b"bot", b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_")
_TOKEN_CHARS = frozenset((string.ascii_letters + string.digits + "_-").encode())
_RUN_OF_68 = re.compile(rb"(?<!a)a{68}(?!a)")
_RUNS = bytes(
    ord("a") if c in _TOKEN_CHARS else ord(".") if c == ord(".") else ord(" ") for c in range(256)
)


_USERINFO = re.compile(r"(?<=://)[^\s/@]+(?=@)")


def mask_userinfo(text: str) -> str:
    """``https://user:pass@host`` -> ``https://[REDACTED]@host`` (settings shown to a person)."""
    return _USERINFO.sub(MASK, text) if "@" in text else text


class Redactor:
    """Replaces known secret values and recognised token shapes with ``[REDACTED]``."""

    __slots__ = ("_bytes_pattern", "_known_bytes", "_pattern", "_value_bytes", "values")

    def __init__(self, values: Iterable[str] = ()) -> None:
        unique = {v.strip() for v in values if v and len(v.strip()) >= _MIN_VALUE_LEN}
        self.values: tuple[str, ...] = tuple(sorted(unique, key=len, reverse=True))
        literals = [re.escape(v) for v in self.values]
        source = "|".join([*literals, *_SHAPES])
        self._pattern = re.compile(source)
        self._bytes_pattern = re.compile(source.encode())
        known = b"|".join(re.escape(v.encode()) for v in self.values)
        self._known_bytes = re.compile(known) if known else None
        self._value_bytes = tuple(v.encode() for v in self.values)

    @classmethod
    def from_env(cls, env: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        """Every value of a variable named like a secret, plus ``extra`` known secrets."""
        found = [value for name, value in env.items() if SECRET_NAME.search(name)]
        return cls([*found, *extra])

    def redact(self, text: str) -> str:
        return self._pattern.sub(_mask_match, text)

    def redact_bytes(self, data: bytes) -> bytes:
        return self._bytes_pattern.sub(_mask_bytes, data)

    def redact_known_bytes(self, data: bytes) -> bytes:
        """Mask only the known secret values: cheap enough for the raw training log.

        A substring test (memmem) first, so output without any secret costs a few
        milliseconds per 100 MB instead of a full regex scan.
        """
        if self._known_bytes is None or not any(v.encode() in data for v in self.values):
            return data
        return self._known_bytes.sub(MASK.encode(), data)

    def might_hold_secret(self, data: bytes) -> bool:
        """False only when no known value and no token shape can be in ``data``: a few
        substring tests, so clean output costs a fraction of a full scan."""
        if any(v in data for v in self._value_bytes):
            return True
        low = data.lower()
        if any(label in low for label in _LABELS):
            return True
        if (b"@" in data or b"discord" in low) and b"://" in data:  # user:pass@, webhook URLs
            return True
        runs = data.translate(_RUNS)
        if b"a" * 16 not in runs:
            return False
        if any(prefix in low for prefix in _PREFIXES):
            return True
        if b"a" * 24 + b"." in runs:  # a Discord bot token's first part
            return True
        return b"a" * 68 in runs and _RUN_OF_68.search(runs) is not None  # a webhook token

    def redact_lines(self, lines: Sequence[str]) -> list[str]:
        """Whole lines for a console: scanned in full only when the pre-check says so.

        Lines, not chunks: a secret that reached Phoenix in two reads is one line again here.
        """
        blob = "\n".join(lines).encode("utf-8", "replace")
        if not lines or not self.might_hold_secret(blob):
            return list(lines)
        return [self.redact(line) for line in lines]

    def redact_obj(self, obj: object) -> object:
        """Redact every string inside JSON-like data (dicts, lists, tuples)."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_obj(v) for v in obj]
        return obj


def redact_fields(value: _T, redact: Callable[[str], str]) -> _T:
    """A frozen dataclass (an event) with its text fields redacted; itself when clean."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(value):  # type: ignore[arg-type]
        old = getattr(value, f.name)
        if isinstance(old, str):
            new: Any = redact(old)
        elif isinstance(old, tuple) and old and all(isinstance(v, str) for v in old):
            new = tuple(redact(v) for v in old)
        else:
            continue
        if new != old:
            changes[f.name] = new
    return dataclasses.replace(value, **changes) if changes else value  # type: ignore[type-var]


def _keep_prefix(matched: str) -> int:
    """Length of a label such as ``Bearer `` or ``?key=`` that may stay visible."""
    m = re.match(r"(?i)(?:bearer|bot)\s+|x-goog-api-key\s*[:=]\s*|[?&]\w+=", matched)
    return m.end() if m else 0


def _mask_match(m: re.Match[str]) -> str:
    text = m.group(0)
    keep = _keep_prefix(text)
    return text[:keep] + MASK


def _mask_bytes(m: re.Match[bytes]) -> bytes:
    text = m.group(0).decode("latin-1")
    keep = _keep_prefix(text)
    return m.group(0)[:keep] + MASK.encode()
