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
(``_metric_scan.SLOW``) define the meaning; tests check that both ways agree.
"""

from __future__ import annotations

__all__ = ["grad_norm", "parse_line", "parse_line_raw"]

import re

from phoenix_engine.core import _metric_scan as scan
from phoenix_engine.events import MetricSample

_SEC_PER_IT = re.compile(r"(\d+\.?\d*)\s*s/it\b", re.ASCII)


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
    """Read by keyword (``fast``) or by the whole-line regexes in ``scan.SLOW``: same answers."""
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
        m = scan.loss_match(line, low) if fast else scan.SLOW["loss"].search(line)
    raw = m.group(1) if m else None
    loss = scan.num(raw) if raw is not None else None
    if step is None and loss is None:
        return None
    lr = scan.lr_match(line, low) if fast else scan.SLOW["lr"].search(line)
    if fast:
        rate = scan.rate(line)
    else:
        m = scan.SLOW["rate"].search(line)
        rate = scan.num(m.group(1)) if m else None
    grad = None
    if "norm" in low:  # rare on a line: no search at all without it
        grad = scan.grad_norm_match(line, low) if fast else scan.SLOW["grad_norm"].search(line)
    sample = MetricSample(
        step=step,
        total_steps=total,
        loss=loss,
        lr=scan.num(lr.group(1)) if lr else None,
        rate=rate if rate is not None else _sec_per_it(line),
        grad_norm=scan.num(grad.group(1)) if grad else None,
    )
    return sample, raw if loss is not None else None


def _step(line: str, low: str, fast: bool) -> tuple[int | None, int | None]:
    m = scan.step_match(line, low) if fast else scan.SLOW["step"].search(line)
    if m:
        return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)
    if "epoch" not in low:
        return None, None
    bar = scan.bar_match(line) if fast else scan.SLOW["bar"].search(line)
    if bar is None:
        return None, None
    epoch, batch, per_epoch = bar.groups()
    if per_epoch == "?":  # an iterable dataset: batches of this epoch only
        return int(batch), None
    return int(epoch) * int(per_epoch) + int(batch), None


def grad_norm(line: str) -> float | None:
    """The ``grad_norm`` (or ``gradient_norm``) ``line`` prints, quoted or not, or None: the
    one reading of it (``read_line`` asks here too, for lines without a step or a loss)."""
    low = line.lower()
    if "norm" not in low:
        return None
    fast = len(low) == len(line)
    m = scan.grad_norm_match(line, low) if fast else scan.SLOW["grad_norm"].search(line)
    return scan.num(m.group(1)) if m else None


def _sec_per_it(line: str) -> float | None:
    m = _SEC_PER_IT.search(line) if "s/it" in line else None
    seconds = scan.num(m.group(1)) if m else None
    return 1 / seconds if seconds else None


def _int(text: str) -> int | None:
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None
