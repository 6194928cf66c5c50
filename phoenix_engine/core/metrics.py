"""Training metrics from one output line: step, loss, learning rate, rate, grad norm, as printed.

Understands plain ``step 120/1000 loss 0.51 lr 3e-4``, Hugging Face Trainer's dict lines,
``key=value`` tqdm postfixes, Lightning progress bars and JSON lines; ``PHOENIX_LOSS_REGEX``
and ``PHOENIX_STEP_REGEX`` (one capture group each; a second group of the step regex is the
total) override the loss and the step. A
Lightning bar ``Epoch 2: 45%|...| 450/1000 [...]`` counts batches across epochs: step
2 * 1000 + 450, total unknown (the bar does not say how many epochs).

Runs on every output line, so it is built for speed: a line without "loss", "step" or
"epoch" costs one lower() and three substring tests, and a metric line is read by finding
each keyword with ``str.find`` and matching a short anchored pattern right after it, instead
of scanning the line with a regex per field (about ten times slower). The whole-line regexes
(``_SLOW``) define the meaning; tests check that both ways agree.
"""

from __future__ import annotations

__all__ = ["grad_norm", "parse_line", "parse_line_raw"]

import re

from phoenix_engine.events import MetricSample

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
_SLOW = {
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
_SEC_PER_IT = re.compile(r"(\d+\.?\d*)\s*s/it\b", _A)
_ALPHA_ = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD = _ALPHA_ | frozenset("0123456789")
_SPACE = frozenset(" \t\n\r\f\v")


def parse_line(
    line: str,
    loss_regex: re.Pattern[str] | None = None,
    step_regex: re.Pattern[str] | None = None,
) -> MetricSample | None:
    """The metrics in ``line``, or None when it carries neither a step nor a loss."""
    # The fast path is repeated here rather than shared: this runs for every output line.
    if loss_regex is None and step_regex is None:
        low = line.lower()
        if "loss" not in low and "step" not in low and "epoch" not in low:
            return None
    parsed = parse_line_raw(line, loss_regex, step_regex)
    return parsed[0] if parsed is not None else None


def parse_line_raw(
    line: str,
    loss_regex: re.Pattern[str] | None = None,
    step_regex: re.Pattern[str] | None = None,
) -> tuple[MetricSample, str | None] | None:
    """Like :func:`parse_line`, plus the loss exactly as printed (``"2.5e-1"``), or None."""
    low = line.lower()
    custom = loss_regex is not None or step_regex is not None
    if not custom and "loss" not in low and "step" not in low and "epoch" not in low:
        return None
    # lower() can change the length of some non-ASCII text; positions must line up.
    return _read(line, low, loss_regex, step_regex, fast=len(low) == len(line))


def _read(
    line: str,
    low: str,
    loss_regex: re.Pattern[str] | None,
    step_regex: re.Pattern[str] | None,
    *,
    fast: bool,
) -> tuple[MetricSample, str | None] | None:
    """Read by keyword (``fast``) or by the whole-line regexes in ``_SLOW``: same answers."""
    if step_regex is not None:
        m = step_regex.search(line)
        step, total = (_int(m.group(1)) if m else None), None
        if m and step_regex.groups >= 2 and m.group(2):  # a second group: the total
            total = _int(m.group(2))
    else:
        step, total = _step(line, low, fast)
    if loss_regex is not None:
        m = loss_regex.search(line)
    else:
        m = _loss(line, low) if fast else _SLOW["loss"].search(line)
    raw = m.group(1) if m else None
    loss = _num(raw) if raw is not None else None
    if step is None and loss is None:
        return None
    lr = _lr(line, low) if fast else _SLOW["lr"].search(line)
    if fast:
        rate = _rate(line)
    else:
        m = _SLOW["rate"].search(line)
        rate = _num(m.group(1)) if m else None
    grad = None
    if "norm" in low:  # rare on a line: no search at all without it
        grad = _grad_norm(line, low) if fast else _SLOW["grad_norm"].search(line)
    sample = MetricSample(
        step=step,
        total_steps=total,
        loss=loss,
        lr=_num(lr.group(1)) if lr else None,
        rate=rate if rate is not None else _sec_per_it(line),
        grad_norm=_num(grad.group(1)) if grad else None,
    )
    return sample, raw if loss is not None else None


def _loss(line: str, low: str) -> re.Match[str] | None:
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


def _step(line: str, low: str, fast: bool) -> tuple[int | None, int | None]:
    m = _step_match(line, low) if fast else _SLOW["step"].search(line)
    if m:
        return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)
    if "epoch" not in low:
        return None, None
    bar = _bar_match(line) if fast else _SLOW["bar"].search(line)
    if bar is None:
        return None, None
    epoch, batch, per_epoch = bar.groups()
    if per_epoch == "?":  # an iterable dataset: batches of this epoch only
        return int(batch), None
    return int(epoch) * int(per_epoch) + int(batch), None


def _step_match(line: str, low: str) -> re.Match[str] | None:
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


def _lr(line: str, low: str) -> re.Match[str] | None:
    """The leftmost of "lr" and "learning_rate" that is followed by a number."""
    return _leftmost(line, low, ("lr", "learning_rate"))


def grad_norm(line: str) -> float | None:
    """The ``grad_norm`` (or ``gradient_norm``) ``line`` prints, quoted or not, or None: the
    one reading of it (``read_line`` asks here too, for lines without a step or a loss)."""
    low = line.lower()
    if "norm" not in low:
        return None
    m = _grad_norm(line, low) if len(low) == len(line) else _SLOW["grad_norm"].search(line)
    return _num(m.group(1)) if m else None


def _grad_norm(line: str, low: str) -> re.Match[str] | None:
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


def _rate(line: str) -> float | None:
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
                    return _num(line[i:end])
        p = line.find("/s", p + 1)
    return None


def _bar_match(line: str) -> re.Match[str] | None:
    p = line.find("Epoch ")
    while p >= 0:
        m = _BAR_AT.match(line, p) if _boundary(line, p) else None
        if m:
            return m
        p = line.find("Epoch ", p + 1)
    return None


def _sec_per_it(line: str) -> float | None:
    m = _SEC_PER_IT.search(line) if "s/it" in line else None
    seconds = _num(m.group(1)) if m else None
    return 1 / seconds if seconds else None


def _wordy(char: str) -> bool:
    return char in _WORD


def _boundary(line: str, p: int) -> bool:
    """Whether ``\\b`` holds before ``line[p]`` (a word character)."""
    return p == 0 or not _wordy(line[p - 1])


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return float(text[:-2]) if text.endswith(".0") and text[-3:-2] in "nNfF" else None


def _int(text: str) -> int | None:
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None
