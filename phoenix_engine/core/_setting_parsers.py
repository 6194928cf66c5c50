"""How each setting's text is read: the parsers of the settings table, and their refusal.

A parser takes the text as written (a flag, an environment variable, a ``phoenix.toml`` value
made text) and returns the value, or raises :class:`BadValue` carrying what the setting
accepts; :func:`~phoenix_engine.core.settings.resolve` turns that into a ConfigError naming
the variable. Pure.
"""

from __future__ import annotations

__all__ = [
    "BadValue",
    "Parser",
    "approval",
    "boolean",
    "choice",
    "command",
    "commands",
    "digits",
    "env_name",
    "number",
    "regex",
    "semicolons",
    "size",
    "text",
    "url",
    "user_ids",
    "whole",
]

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

Parser = Callable[[str], Any]


class BadValue(ValueError):
    """A parser's refusal; carries what the setting accepts."""


def whole(lo: int, hi: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            span = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            raise BadValue(f"a whole number {span}")
        return value

    return parse


def number(lo: float, hi: float | None = None, note: str = "") -> Parser:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = float("nan")
        if not (value >= lo and (hi is None or value <= hi)) or value == float("inf"):
            span = f"between {lo:g} and {hi:g}" if hi is not None else f">= {lo:g}"
            raise BadValue(f"a number {span}{note}")
        return value

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def boolean(raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise BadValue("1/0, true/false, yes/no or on/off")


def choice(*choices: str, aliases: Mapping[str, str] | None = None) -> Parser:
    def parse(raw: str) -> str:
        low = raw.strip().lower()
        low = (aliases or {}).get(low, low)
        if low not in choices:
            raise BadValue("one of " + ", ".join(choices))
        return low

    return parse


def text(raw: str) -> str:
    return raw.strip()


def command(raw: str) -> str:
    text = raw.strip()
    try:
        shlex.split(text)
    except ValueError as exc:
        raise BadValue(f"a shell-style command line ({exc})") from None
    return text


def semicolons(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(";") if part.strip())


def commands(raw: str) -> tuple[str, ...]:
    items = semicolons(raw)
    for item in items:
        command(item)
    return items


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def size(raw: str) -> int:
    m = _SIZE.match(raw)
    if not m:
        raise BadValue("a size in bytes, e.g. 5000000, 5MB or 5MiB (0 disables rotation)")
    unit = (m.group(2) or "").lower()
    base = 1024 if "i" in unit else 1
    mult = _UNITS[unit[:1]] if base == 1 else 1024 ** ("bkmg".index(unit[0]))
    return int(float(m.group(1)) * mult)


def url(raw: str) -> str:
    text = raw.strip()
    if text and not re.match(r"^https?://[^\s/]+", text):
        raise BadValue("an http:// or https:// URL")
    return text


def regex(raw: str) -> str:
    text = raw.strip()
    if not text:
        return ""
    try:
        compiled = re.compile(text)
    except re.error as exc:
        raise BadValue(f"a regular expression with one capture group ({exc})") from None
    if compiled.groups < 1:
        raise BadValue("a regular expression with one capture group")
    return text


def digits(raw: str) -> str:
    text = raw.strip()
    if text and not text.isdigit():
        raise BadValue("a Discord channel ID (digits only)")
    return text


def approval(raw: str) -> str:
    text = raw.strip().lower()
    if text in ("", "auto", "manual"):
        return text
    m = re.fullmatch(r"timeout:(\d+(?:\.\d+)?)", text)
    if m and float(m.group(1)) > 0:
        return text
    raise BadValue("auto, manual or timeout:SECONDS (e.g. timeout:600)")


def user_ids(raw: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in re.split(r"[;,\s]+", raw) if part.strip())
    if not all(item.isdigit() for item in items):
        raise BadValue("Discord user IDs (digits), separated by ';' or ','")
    return items


def env_name(raw: str) -> str:
    text = raw.strip()
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text):
        raise BadValue("the name of an environment variable")
    return text
