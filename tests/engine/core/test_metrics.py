"""Metric lines from real-looking trainer output."""

from __future__ import annotations

import math
import random
import re

import pytest

from phoenix_engine.core import metrics
from phoenix_engine.core.metrics import parse_line, parse_line_raw
from phoenix_engine.events import MetricSample


@pytest.mark.parametrize(
    ("line", "step", "total", "loss", "lr", "rate"),
    [
        (
            "step 120/1000 | loss 0.5123 | lr 3.00e-04 | 42.1 samples/s",
            120,
            1000,
            0.5123,
            3e-4,
            42.1,
        ),
        ("step 120 loss 0.51", 120, None, 0.51, None, None),
        ("{'loss': 0.51, 'learning_rate': 2e-05, 'epoch': 0.3}", None, None, 0.51, 2e-05, None),
        ('{"step": 7, "loss": 1.25, "lr": 0.001}', 7, None, 1.25, 0.001, None),
        ("Step: 10, Loss: 0.5", 10, None, 0.5, None, None),
        ("100%|██| 50/50 [00:10<00:00, 4.95it/s, loss=0.231]", None, None, 0.231, None, 4.95),
        ("global_step=300 train_loss=2.5e-1", 300, None, 0.25, None, None),
        ("step 5 loss nan", 5, None, math.nan, None, None),
    ],
)
def test_lines(
    line: str,
    step: int | None,
    total: int | None,
    loss: float | None,
    lr: float | None,
    rate: float | None,
) -> None:
    sample = parse_line(line)
    assert sample is not None
    assert (sample.step, sample.total_steps, sample.lr, sample.rate) == (step, total, lr, rate)
    if loss is not None and math.isnan(loss):
        assert sample.loss is not None and math.isnan(sample.loss)
    else:
        assert sample.loss == loss


@pytest.mark.parametrize(
    "line",
    ["Downloading shards: 100%", "val_loss 0.3", "epoch 1 finished", "lossless compression"],
)
def test_lines_without_training_metrics(line: str) -> None:
    assert parse_line(line) is None


def test_custom_loss_regex() -> None:
    sample = parse_line("it 5 | objective=0.75 | step 5", re.compile(r"objective=([\d.]+)"))
    assert sample is not None and sample.loss == 0.75 and sample.step == 5


LIGHTNING = "Epoch 0:  45%|████▌     | 450/1000 [00:30<00:36, 15.00it/s, v_num=0, train_loss=0.512]"


MORE: list[
    tuple[str, int | None, int | None, float | None, str | None, float | None, float | None]
] = [
    (LIGHTNING, 450, None, 0.512, "0.512", None, 15.0),
    (
        "Epoch 2:  10%|█         | 100/1000 [00:07<01:03, 14.2it/s, v_num=3, "
        "train_loss_step=0.431, train_loss_epoch=0.502]",
        2100,
        None,
        0.431,
        "0.431",
        None,
        14.2,
    ),
    (
        "Epoch 1: 100%|██████████| 1000/1000 [01:02<00:00, 16.01it/s, v_num=0]",
        2000,
        None,
        None,
        None,
        None,
        16.01,
    ),
    (
        "Epoch 3:   3%|▎         | 30/? [00:04<00:00, 7.31it/s, loss=1.93]",
        30,
        None,
        1.93,
        "1.93",
        None,
        7.31,
    ),
    (
        "Epoch 0:   1%|          | 2/200 [00:05<08:15,  2.50s/it, loss=3.21, v_num=1]",
        2,
        None,
        3.21,
        "3.21",
        None,
        0.4,
    ),
    (
        "{'loss': 0.6931, 'grad_norm': 3.4521, 'learning_rate': 4.8e-05, 'epoch': 0.12}",
        None,
        None,
        0.6931,
        "0.6931",
        4.8e-05,
        None,
    ),
    (
        "{'loss': '0.6931', 'learning_rate': '4.5e-05', 'epoch': '0.5'}",
        None,
        None,
        0.6931,
        "0.6931",
        4.5e-05,
        None,
    ),
    ('{"train/loss": 0.9, "train/global_step": 40}', 40, None, 0.9, "0.9", None, None),
    ("global_step=300 train_loss=2.5e-1", 300, None, 0.25, "2.5e-1", None, None),
    ("[rank0] step 9/10 loss=inf lr=1e-3", 9, 10, math.inf, "inf", 1e-3, None),
]


@pytest.mark.parametrize(("line", "step", "total", "loss", "raw", "lr", "rate"), MORE)
def test_more_formats_with_the_loss_as_printed(
    line: str,
    step: int | None,
    total: int | None,
    loss: float | None,
    raw: str | None,
    lr: float | None,
    rate: float | None,
) -> None:
    parsed = parse_line_raw(line)
    assert parsed is not None
    sample, printed = parsed
    assert (sample.step, sample.total_steps, sample.loss, printed, sample.lr) == (
        step,
        total,
        loss,
        raw,
        lr,
    )
    assert sample.rate == pytest.approx(rate) if rate is not None else sample.rate is None
    assert parse_line(line) == sample


@pytest.mark.parametrize(
    ("line", "step", "loss"),
    [
        ("iter 1234 | objective 0.5", 1234, 0.5),
        ("iter 1,235 | objective 0.4", 1235, 0.4),
        ("step 7 | objective 0.3", None, 0.3),  # the override replaces the built-in step
        ("warming up", None, None),
    ],
)
def test_step_and_loss_regex_overrides(line: str, step: int | None, loss: float | None) -> None:
    sample = parse_line(line, re.compile(r"objective ([\d.]+)"), re.compile(r"iter ([\d,]+)"))
    if step is None and loss is None:
        assert sample is None
    else:
        assert sample is not None and (sample.step, sample.loss) == (step, loss)


@pytest.mark.parametrize(
    "line",
    [
        "epoch 1 finished",
        "Epoch 1: validation done",
        "Map: 100%|██████████| 1000/1000 [00:01<00:00, 900.00 examples/s]",
        "{'eval_loss': 0.41, 'eval_runtime': 3.2, 'epoch': 1.0}",
    ],
)
def test_epoch_lines_without_training_metrics(line: str) -> None:
    assert parse_line(line) is None and parse_line_raw(line) is None


TOKENS = [
    "grad_norm",
    "Gradient_Norm",
    "norm",
    "loss",
    "Loss",
    "LOSS",
    "train_",
    "training_",
    "eval_",
    "x",
    "_step",
    "step",
    "Step",
    "global_",
    "lr",
    "learning_rate",
    "=",
    ":",
    ": ",
    " ",
    "  ",
    "'",
    '"',
    ",",
    "|",
    "/",
    "0.5",
    "1e-3",
    "2.5E+2",
    ".5",
    "3.",
    "12",
    "100000",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "+",
    "e",
    "it/s",
    "samples/s",
    " tokens/s",
    "s/it",
    "steps",
    "Epoch 1: ",
    "45%|██▌  | ",
    "10/100 [",
    "7/? [",
    "[00:10<00:20, ",
    "ü",
    "loſs",
]


def _fuzz_lines(count: int) -> list[str]:
    rng = random.Random(5)
    return ["".join(rng.choices(TOKENS, k=rng.randint(1, 14))) for _ in range(count)]


def _key(parsed: tuple[MetricSample, str | None] | None) -> str:
    return repr(parsed)  # repr makes nan equal to nan


def test_keyword_reading_agrees_with_the_whole_line_regexes() -> None:
    lines = [*_fuzz_lines(5000), LIGHTNING, *(row[0] for row in MORE)]
    disagree = []
    for line in lines:
        low = line.lower()
        fast = metrics._read(line, low, None, None, fast=True)
        slow = metrics._read(line, low, None, None, fast=False)
        if _key(fast) != _key(slow):
            disagree.append((line, fast, slow))
    assert disagree == []


@pytest.mark.parametrize(
    ("line", "grad_norm"),
    [
        ("{'loss': 0.51, 'grad_norm': 1.75, 'learning_rate': 2e-05, 'epoch': 0.3}", 1.75),
        ("step 7 loss 1.2 gradient_norm=3e-1", 0.3),
        ("step 7 loss 1.2 total_grad_norm 4.0", None),  # not a word of its own
        ("step 7 loss 1.2 norm 4.0", None),
    ],
)
def test_grad_norm_is_read_when_printed(line: str, grad_norm: float | None) -> None:
    sample = parse_line(line)
    assert sample is not None and sample.grad_norm == grad_norm
    slow = metrics._read(line, line.lower(), None, None, fast=False)
    assert slow is not None and slow[0].grad_norm == grad_norm


def test_a_line_that_lower_makes_longer_is_still_read() -> None:
    line = "İstanbul run step 3 loss 0.25"  # "İ".lower() is two characters
    assert len(line.lower()) != len(line)
    assert parse_line_raw(line) == (MetricSample(step=3, loss=0.25), "0.25")
