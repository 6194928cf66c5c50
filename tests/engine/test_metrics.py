"""Metric lines from real-looking trainer output."""

from __future__ import annotations

import math
import re

import pytest

from phoenix_engine.metrics import parse_line


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
