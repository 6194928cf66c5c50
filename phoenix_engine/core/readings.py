"""One trainer output line read in full: metrics, progress bars, grad_norm, divergence alarms.

:func:`read_line` builds on :func:`~phoenix_engine.core.metrics.parse_line_raw` (step, loss, lr,
rate, grad norm) and adds what trainers print around them:

- tqdm bars (plain tqdm, Hugging Face Trainer, accelerate, Lightning's TQDM bar): ``n/total``
  is the step and the total. The bar's description tells its kind: none (the Trainer's own
  bars, training and evaluation alike: :class:`phoenix_engine.core.trainbar.BarPicker` tells them
  apart over time), a training one (``train``, ``Training``, ``Epoch N``), or another one
  (``Map``, ``Tokenizing``, ``Writing model shards``, ``Validation``: never a step).
- Lightning's Rich bar ``Epoch 1/2 ━━━╸━━ 12/40 ...``: step ``epoch * 40 + 12`` of
  ``(2 + 1) * 40``.
- ``grad_norm`` (the Trainer's dict lines, quoted or not) also on a line without a step or a
  loss, read by :func:`~phoenix_engine.core.metrics.grad_norm`.
- divergence that is not a NaN loss: Lightning's "Monitored metric ... is not finite",
  DeepSpeed/apex fp16 overflows once the loss scale is at its minimum.

Terminal control sequences (colours, cursor moves of nested bars) are removed first
(:func:`~phoenix_engine.core.lines.strip_control`).
"""

from __future__ import annotations

__all__ = ["BarKind", "Reading", "read_line"]

import dataclasses
import enum
import re
from dataclasses import dataclass

from phoenix_engine.core.lines import strip_control
from phoenix_engine.core.metrics import grad_norm, parse_line_raw
from phoenix_engine.events import MetricSample

_TQDM = re.compile(r"\|\s*(\d+)/(\d+|\?)\s*\[", re.ASCII)
_RICH = re.compile(r"\bEpoch (\d+)/(\d+)\s+[\u2501\u2578\u257a\u2500 ]+?\s*(\d+)/(\d+)\b")
_SCALE = re.compile(
    r"(?:reducing (?:loss scale )?to|attempted loss scale:)\s*([\d.]+(?:e[-+]?\d+)?)"
)
_TRAIN_WORDS = ("train", "step", "iter", "batch")
_OTHER_WORDS = ("eval", "valid", "test", "predict", "sanity", "map", "token", "shard", "load")
_GATE = ("loss", "step", "epoch", "it/s", "s/it", "finite", "overflow", "grad_norm")


class BarKind(enum.StrEnum):
    PLAIN = "plain"  # a bar without a description: the Trainer's training or eval bar
    TRAIN = "train"  # described as training: always the training bar
    OTHER = "other"  # data preparation, evaluation, saving: never a step


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    sample: MetricSample
    raw_loss: str | None = None  # the loss as printed
    bar: BarKind | None = None  # the line is a progress bar frame of this kind
    alarm: str = ""  # a divergence the trainer reported itself, in words


def read_line(
    line: str,
    loss_regex: re.Pattern[str] | None = None,
    step_regex: re.Pattern[str] | None = None,
) -> Reading | None:
    """Everything a training line says, or None when it says nothing we use."""
    if "\x1b" in line:
        line = strip_control(line)
    low = line.lower()
    custom = loss_regex is not None or step_regex is not None
    if not custom and not any(word in low for word in _GATE):
        return None
    alarm = _alarm(line, low) if ("finite" in low or "overflow" in low or "minimum" in low) else ""
    bar = _bar(line) if "/" in line and ("[" in line or "\u2501" in line) else None
    if bar is not None and bar[0] is BarKind.OTHER:
        return Reading(sample=MetricSample(), bar=bar[0], alarm=alarm) if alarm else None
    parsed = parse_line_raw(line, loss_regex, step_regex)
    sample, raw = parsed if parsed is not None else (MetricSample(), None)
    grad = sample.grad_norm  # a line with neither step nor loss: parse_line_raw read nothing
    if parsed is None and "norm" in low and (grad := grad_norm(line)) is not None:
        sample = dataclasses.replace(sample, grad_norm=grad)
    if bar is not None and step_regex is None:
        _, step, total = bar
        if step is not None and (sample.step is None or "epoch" in low):
            sample = dataclasses.replace(sample, step=step, total_steps=total)
        elif sample.total_steps is None and total is not None:
            sample = dataclasses.replace(sample, total_steps=total)
    if parsed is None and bar is None and grad is None and not alarm:
        return None
    return Reading(sample=sample, raw_loss=raw, bar=bar[0] if bar else None, alarm=alarm)


def _bar(line: str) -> tuple[BarKind, int | None, int | None] | None:
    m = _TQDM.search(line)
    if m is None:
        rich = _RICH.search(line) if "\u2501" in line else None
        if rich is None:
            return None
        epoch, last_epoch, n, per = (int(g) for g in rich.groups())
        return BarKind.TRAIN, epoch * per + n, (last_epoch + 1) * per if per else None
    head = line[: line.find("|")]
    desc = head.rsplit(":", 1)[0].strip().lower() if ":" in head else ""
    total = None if m.group(2) == "?" else int(m.group(2))
    if desc.startswith("epoch "):  # Lightning's TQDM bar: metrics.py counts its batches
        return BarKind.TRAIN, None, None
    if not desc:
        return BarKind.PLAIN, int(m.group(1)), total
    if any(w in desc for w in _OTHER_WORDS) or not any(w in desc for w in _TRAIN_WORDS):
        return BarKind.OTHER, None, None
    return BarKind.TRAIN, int(m.group(1)), total


def _alarm(line: str, low: str) -> str:
    """Divergence in the trainer's own words, '' when the line reports none."""
    if "monitored metric" in low and "not finite" in low:
        start = low.find("monitored metric")
        end = low.find("finite", start) + len("finite")
        return line[start:end] if len(line) == len(low) else low[start:end]
    if "loss scale" in low and "already at minimum" in low:
        return "fp16 loss scale already at its minimum: every step overflows"
    if "overflow" in low:
        scales = [float(s) for s in _SCALE.findall(low)]
        if scales and min(scales) <= 1.0:
            return "fp16 gradients overflow at the minimum loss scale: steps are skipped"
    return ""
