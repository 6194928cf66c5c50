"""The fast readings behind :mod:`phoenix_engine.core.metrics`: one keyword search per field.

Each reader finds its keyword with ``str.find`` and matches a short anchored pattern right
after it, instead of scanning the whole line with a regex per field (about ten times slower);
``SLOW`` holds the whole-line regexes that define the meaning, and the tests check that both
ways agree on every line. Pure and private: only ``metrics`` reads lines with it.
"""

from __future__ import annotations

__all__ = [
    "SLOW",
    "bar_match",
    "grad_norm_match",
    "loss_match",
    "lr_match",
    "num",
    "rate",
    "step_match",
]

import re

# Possessive quantifiers: "12.53" has one reading, so a failed match gives up at once
# instead of retrying every split of a digit run (cubic in "100000/300000 [03:10<04:02").
# Lightning's bar prints a NaN as ``nan.0``.
_NUM = r"([-+]?(?:\d++(?:\.\d*+)?+|\.\d++)(?:[eE][-+]?\d++)?+|(?:nan|NaN|inf|-inf)(?:\.0)?)"
_SEP = r"""['"]?\s*[:=]?\s*['"]?"""
# ASCII rules throughout: keywords, \b and \w, digits and spaces (the keyword search
# below uses the same rules, so both readings agree on every line).
_A = re.ASCII
_I = re.IGNORECASE | _A
# Lightning shows ``train_loss_step`` (this step) beside ``train_loss_epoch`` (a mean).
_LOSS_REST = r"(?:_step)?" + _SEP + _NUM + r"(?![\w.])"
_STEP_REST = _SEP + r"(\d+)(?:\s*/\s*(\d+))?"
_UNITS = r"(?:it|samples|steps|tokens)"
_BAR = r"Epoch (\d+):\s*\d+%\|[^|]*\|\s*(\d+)/(\d+|\?) \["
SLOW = {
    "loss": re.compile(r"(?<![A-Za-z_])(?:train(?:ing)?_)?loss" + _LOSS_REST, _I),
    "step": re.compile(r"\b(?:global_)?step\b" + _STEP_REST, _I),
    "lr": re.compile(r"\b(?:lr|learning_rate)" + _SEP + _NUM, _I),
    "grad_norm": re.compile(r"\b(?:grad|gradient)_norm" + _SEP + _NUM, _I),
    "rate": re.compile(_NUM + r"\s*" + _UNITS + r"/s\b", _A),
    "bar": re.compile(r"\b" + _BAR, _A),
}
_LOSS_AT = re.compile(_LOSS_REST, _I)
_STEP_AT = re.compile(_STEP_REST, _I)
_LR_AT = re.compile(_SEP + _NUM, _I)
_RATE_UNITS = ("it", "samples", "steps", "tokens")
_NUMBER_CHARS = frozenset("0123456789.eE+-")
_NUM_FULL = re.compile(_NUM, _A)
_BAR_AT = re.compile(_BAR, _A)
_ALPHA_ = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD = _ALPHA_ | frozenset("0123456789")
_SPACE = frozenset(" \t\n\r\f\v")


def loss_match(line: str, low: str) -> re.Match[str] | None:
    p = low.find("loss")
    while p >= 0:
        start = p
        if low.startswith("training_", p - 9) and p >= 9:
            start = p - 9
        elif low.startswith("train_", p - 6) and p >= 6:
            start = p - 6
        if start == 0 or line[start - 1] not in _ALPHA_:
            m = _LOSS_AT.match(line, p + 4)
            if m:
                return m
        p = low.find("loss", p + 1)
    return None


def step_match(line: str, low: str) -> re.Match[str] | None:
    p = low.find("step")
    while p >= 0:
        start = p - 7 if p >= 7 and low.startswith("global_", p - 7) else p
        after = line[p + 4 : p + 5]
        if _boundary(line, start) and not (after and _wordy(after)):
            m = _STEP_AT.match(line, p + 4)
            if m:
                return m
        p = low.find("step", p + 1)
    return None


def lr_match(line: str, low: str) -> re.Match[str] | None:
    """The leftmost of "lr" and "learning_rate" that is followed by a number."""
    return _leftmost(line, low, ("lr", "learning_rate"))


def grad_norm_match(line: str, low: str) -> re.Match[str] | None:
    return _leftmost(line, low, ("grad_norm", "gradient_norm"))


def _leftmost(line: str, low: str, words: tuple[str, ...]) -> re.Match[str] | None:
    best: tuple[int, re.Match[str]] | None = None
    for word in words:
        p = low.find(word)
        while p >= 0 and (best is None or p < best[0]):
            m = _LR_AT.match(line, p + len(word)) if _boundary(line, p) else None
            if m:
                best = (p, m)
                break
            p = low.find(word, p + 1)
    return best[1] if best else None


def rate(line: str) -> float | None:
    """The number before the first ``it/s``, ``samples/s``, ``steps/s`` or ``tokens/s``.

    Read backwards from the unit by hand: a regex search there costs microseconds, because
    it has no literal to start from and tries every position of the digit runs before it.
    """
    p = line.find("/s")
    while p >= 0:
        after = line[p + 2 : p + 3]
        unit = next((u for u in _RATE_UNITS if line.endswith(u, 0, p)), None)
        if unit is not None and not (after and _wordy(after)):
            end = p - len(unit)
            while end > 0 and line[end - 1] in _SPACE:
                end -= 1
            for word in ("-inf", "inf", "nan", "NaN"):  # as _NUM spells them
                if line.endswith(word, 0, end):
                    return float(word)
            start = end
            while start > 0 and line[start - 1] in _NUMBER_CHARS:
                start -= 1
            for i in range(start, end):  # the longest valid number ending at ``end``
                if _NUM_FULL.fullmatch(line, i, end):
                    return num(line[i:end])
        p = line.find("/s", p + 1)
    return None


def bar_match(line: str) -> re.Match[str] | None:
    p = line.find("Epoch ")
    while p >= 0:
        m = _BAR_AT.match(line, p) if _boundary(line, p) else None
        if m:
            return m
        p = line.find("Epoch ", p + 1)
    return None


def _wordy(char: str) -> bool:
    return char in _WORD


def _boundary(line: str, p: int) -> bool:
    """Whether ``\\b`` holds before ``line[p]`` (a word character)."""
    return p == 0 or not _wordy(line[p - 1])


def num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return float(text[:-2]) if text.endswith(".0") and text[-3:-2] in "nNfF" else None
