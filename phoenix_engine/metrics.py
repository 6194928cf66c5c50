"""Training metrics from one output line: step, loss, learning rate, rate, as printed.

Pure and cheap: a line without "loss" or "step" in it costs one lower() and two substring
tests. Understands plain ``step 120/1000 loss 0.51 lr 3e-4``, Hugging Face Trainer's dict
lines, ``key=value`` tqdm postfixes and JSON lines; ``PHOENIX_LOSS_REGEX`` overrides the loss.
"""

from __future__ import annotations

__all__ = ["parse_line"]

import math
import re

from phoenix_engine.events import MetricSample

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|NaN|inf|-inf)"
_SEP = r"""['"]?\s*[:=]?\s*"""
_STEP = re.compile(r"\b(?:global_)?step\b" + _SEP + r"(\d+)(?:\s*/\s*(\d+))?", re.IGNORECASE)
_LOSS = re.compile(
    r"(?<![A-Za-z_])(?:train(?:ing)?_)?loss" + _SEP + _NUM + r"(?![\w.])", re.IGNORECASE
)
_LR = re.compile(r"\b(?:lr|learning_rate)" + _SEP + _NUM, re.IGNORECASE)
_RATE = re.compile(_NUM + r"\s*(?:it|samples|steps|tokens)/s\b")


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_line(line: str, loss_regex: re.Pattern[str] | None = None) -> MetricSample | None:
    """The metrics in ``line``, or None when it carries neither a step nor a loss."""
    low = line.lower()
    if "loss" not in low and "step" not in low:
        return None
    step = total = None
    m = _STEP.search(line)
    if m:
        step = int(m.group(1))
        total = int(m.group(2)) if m.group(2) else None
    loss_match = (loss_regex or _LOSS).search(line)
    loss = _num(loss_match.group(1)) if loss_match else None
    if step is None and loss is None:
        return None
    lr_match = _LR.search(line)
    rate_match = _RATE.search(line)
    return MetricSample(
        step=step,
        total_steps=total,
        loss=loss,
        lr=_num(lr_match.group(1)) if lr_match else None,
        rate=_num(rate_match.group(1)) if rate_match else None,
    )


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
