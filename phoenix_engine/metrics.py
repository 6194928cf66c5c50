"""Training metrics from one output line: step, loss, learning rate, rate, as printed.

Pure and cheap: a line without "loss", "step" or "epoch" in it costs one lower() and three
substring tests. Understands plain ``step 120/1000 loss 0.51 lr 3e-4``, Hugging Face
Trainer's dict lines, ``key=value`` tqdm postfixes, Lightning progress bars and JSON lines;
``PHOENIX_LOSS_REGEX`` and ``PHOENIX_STEP_REGEX`` (one capture group each) override the loss
and the step. A Lightning bar ``Epoch 2: 45%|...| 450/1000 [...]`` counts batches across
epochs: step 2 * 1000 + 450, total unknown (the bar does not say how many epochs).
"""

from __future__ import annotations

__all__ = ["finite", "parse_line", "parse_line_raw"]

import math
import re

from phoenix_engine.events import MetricSample

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|NaN|inf|-inf)"
_SEP = r"""['"]?\s*[:=]?\s*['"]?"""
_STEP = re.compile(r"\b(?:global_)?step\b" + _SEP + r"(\d+)(?:\s*/\s*(\d+))?", re.IGNORECASE)
_LOSS = re.compile(
    # Lightning shows ``train_loss_step`` (this step) beside ``train_loss_epoch`` (a mean).
    r"(?<![A-Za-z_])(?:train(?:ing)?_)?loss(?:_step)?" + _SEP + _NUM + r"(?![\w.])",
    re.IGNORECASE,
)
_LR = re.compile(r"\b(?:lr|learning_rate)" + _SEP + _NUM, re.IGNORECASE)
_RATE = re.compile(_NUM + r"\s*(?:it|samples|steps|tokens)/s\b")
_SEC_PER_IT = re.compile(r"(\d+\.?\d*)\s*s/it\b")
_LIGHTNING = re.compile(r"\bEpoch (\d+):\s*\d+%\|[^|]*\|\s*(\d+)/(\d+|\?) \[")


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


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
    if loss_regex is None and step_regex is None:
        low = line.lower()
        if "loss" not in low and "step" not in low and "epoch" not in low:
            return None
    step, total = _step(line, step_regex)
    loss_match = (loss_regex or _LOSS).search(line)
    raw = loss_match.group(1) if loss_match else None
    loss = _num(raw) if raw is not None else None
    if step is None and loss is None:
        return None
    lr_match = _LR.search(line)
    sample = MetricSample(
        step=step,
        total_steps=total,
        loss=loss,
        lr=_num(lr_match.group(1)) if lr_match else None,
        rate=_rate(line),
    )
    return sample, raw if loss is not None else None


def _step(line: str, step_regex: re.Pattern[str] | None) -> tuple[int | None, int | None]:
    if step_regex is not None:
        m = step_regex.search(line)
        return (_int(m.group(1)) if m else None), None
    m = _STEP.search(line)
    if m:
        return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)
    bar = _LIGHTNING.search(line)
    if bar:
        epoch, batch, per_epoch = bar.groups()
        if per_epoch == "?":  # an iterable dataset: batches of this epoch only
            return int(batch), None
        return int(epoch) * int(per_epoch) + int(batch), None
    return None, None


def _rate(line: str) -> float | None:
    m = _RATE.search(line)
    if m:
        return _num(m.group(1))
    m = _SEC_PER_IT.search(line) if "s/it" in line else None
    seconds = _num(m.group(1)) if m else None
    return 1 / seconds if seconds else None


def _int(text: str) -> int | None:
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
