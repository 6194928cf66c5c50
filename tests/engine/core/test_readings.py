"""read_line: bars, grad_norm, alarms and control sequences, line by line."""

from __future__ import annotations

import math
import re

import pytest

from phoenix_engine.core.anomaly import Watch
from phoenix_engine.core.lines import strip_control
from phoenix_engine.core.readings import BarKind, read_line
from phoenix_engine.core.trainbar import BarPicker
from phoenix_engine.events import Anomaly, MetricSample


@pytest.mark.parametrize(
    ("line", "kind", "step", "total", "loss"),
    [
        (" 45%|████▌     | 45/100 [00:12<00:15,  3.61it/s]", BarKind.PLAIN, 45, 100, None),
        (
            "train:  21%|██▏ | 64/300 [00:02<00:07, 30.1it/s, loss=0.0863]",
            BarKind.TRAIN,
            64,
            300,
            0.0863,
        ),
        ("Training: |          | 0/? [00:00<?, ?it/s]", BarKind.TRAIN, 0, None, None),
        (
            "Map:  50%|█████     | 100/200 [00:00<00:00, 900.00 examples/s]",
            BarKind.OTHER,
            None,
            None,
            None,
        ),
        (
            "Running tokenizer on dataset:  10%|█ | 5/50 [00:01<00:09, 5.00ba/s]",
            BarKind.OTHER,
            None,
            None,
            None,
        ),
        (
            "Writing model shards: 100%|██████████| 1/1 [00:00<00:00, 373.59it/s]",
            BarKind.OTHER,
            None,
            None,
            None,
        ),
        (
            "Validation DataLoader 0:  50%|█████     | 3/6 [00:00<00:00, 60.0it/s]",
            BarKind.OTHER,
            None,
            None,
            None,
        ),
        (
            "Epoch 1:  50%|█████     | 20/40 [00:00<00:00, 99.9it/s, train_loss_step=0.2]",
            BarKind.TRAIN,
            60,
            None,
            0.2,
        ),
        (
            "\x1b[2KEpoch 1/2  \x1b[35m━━━━╸\x1b[90m━━━━━ 12/40 0:00:01 • 0:00:02 45.1it/s "
            "train_loss_step: 0.5",
            BarKind.TRAIN,
            52,
            120,
            0.5,
        ),
    ],
)
def test_bars(
    line: str, kind: BarKind, step: int | None, total: int | None, loss: float | None
) -> None:
    reading = read_line(line)
    if kind is BarKind.OTHER:
        assert reading is None  # never a step, never a loss
        return
    assert reading is not None and reading.bar is kind
    assert (reading.sample.step, reading.sample.total_steps, reading.sample.loss) == (
        step,
        total,
        loss,
    )


def test_quoted_dict_values_and_grad_norm() -> None:
    reading = read_line(
        "{'loss': '0', 'grad_norm': 'nan', 'learning_rate': '2e+04', 'epoch': '0.625'}"
    )
    assert reading is not None
    assert reading.sample.loss == 0 and reading.sample.lr == 2e4
    assert reading.sample.grad_norm is not None and math.isnan(reading.sample.grad_norm)
    assert read_line("{'loss': '6.729', 'grad_norm': '1.084'}").sample.grad_norm == 1.084  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "grad_norm"),
    [
        ("{'grad_norm': '2.5'}", 2.5),  # neither step nor loss on the line
        ("'Grad_Norm': 0.75", 0.75),
        ("step 7 loss 1.2 total_grad_norm 4.0", None),  # not a word of its own, as in metrics
        ("total_grad_norm 4.0", None),
    ],
)
def test_grad_norm_reads_as_parse_line_does(line: str, grad_norm: float | None) -> None:
    reading = read_line(line)
    got = reading.sample.grad_norm if reading is not None else None
    assert got == grad_norm


@pytest.mark.parametrize(
    ("line", "alarm"),
    [
        (
            "Monitored metric val_acc = nan is not finite. Previous best value was 0.5.",
            "Monitored metric val_acc = nan is not finite",
        ),
        (
            "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 2, reducing to 1",
            "minimum loss scale",
        ),
        (
            "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 1.0",
            "minimum loss scale",
        ),
        (
            "Current loss scale already at minimum - cannot decrease scale anymore. Exiting run.",
            "already at its minimum",
        ),
        (
            "[deepspeed] OVERFLOW! Rank 0 Skipping step. "
            "Attempted loss scale: 65536, reducing to 32768",
            "",
        ),
        ("step 4 loss 0.5 overflow_count=0", ""),
    ],
)
def test_divergence_alarms(line: str, alarm: str) -> None:
    reading = read_line(line)
    got = reading.alarm if reading is not None else ""
    assert (alarm in got) if alarm else got == ""


def test_lightning_prints_nan_as_nan_dot_zero() -> None:
    reading = read_line(
        "Epoch 0: 100%|██████████| 40/40 [00:00<00:00, 303.05it/s, train_loss_step=nan.0]"
    )
    assert (
        reading is not None and reading.sample.loss is not None and math.isnan(reading.sample.loss)
    )


def test_step_regex_second_group_is_the_total() -> None:
    reading = read_line("it 12 of 500 | obj 0.3", step_regex=re.compile(r"it (\d+) of (\d+)"))
    assert reading is not None and (reading.sample.step, reading.sample.total_steps) == (12, 500)


def test_strip_control() -> None:
    assert strip_control("\x1b[A\x1b[2K\x1b[31mred\x1b[0m ok\x07\x1b]0;title\x07!") == "red ok!"
    assert strip_control("tab\tkept") == "tab\tkept"


def test_bar_picker_follows_the_training_bar_not_the_eval_bar() -> None:
    picker = BarPicker()
    frames = [
        (0, 40),
        (5, 40),
        (10, 40),
        (0, 6),
        (6, 6),
        (10, 40),
        (15, 40),
        (0, 6),
        (3, 6),
        (20, 40),
    ]
    taken = [n for n, total in frames if picker.accept(BarKind.PLAIN, n, total)]
    assert taken == [0, 5, 10, 10, 15, 20]


def feed(watch: Watch, lines: list[str]) -> list[Anomaly]:
    out: list[Anomaly] = []
    for i, line in enumerate(lines):
        r = read_line(line)
        assert r is not None, line
        out += [
            e
            for e in watch.feed(r.sample, r.raw_loss, float(i), bar=r.bar, alarm=r.alarm)
            if isinstance(e, Anomaly)
        ]
    return out


def test_hf_filter_zero_loss_with_nan_grad_norm_is_divergence() -> None:
    lines = [
        " 25%|██▌       | 10/40 [00:01<00:03, 9.1it/s]",
        "{'loss': '3.904', 'grad_norm': '0.91', 'learning_rate': '5e-4', 'epoch': '0.25'}",
        " 50%|█████     | 20/40 [00:02<00:02, 9.1it/s]",
        "{'loss': '0', 'grad_norm': 'nan', 'learning_rate': '4e-4', 'epoch': '0.5'}",
        "{'loss': '0', 'grad_norm': 'nan', 'learning_rate': '3e-4', 'epoch': '0.75'}",
    ]
    found = feed(Watch(stall_s=0, notify_steps=0), lines)
    assert [(a.kind, a.step) for a in found] == [("nan", 20)]  # one episode, at the bar's step
    assert "logging_nan_inf_filter" in found[0].detail


def test_alarm_is_a_nan_anomaly_once_per_episode() -> None:
    lines = ["step 5 loss 0.5"] + [
        "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 1, reducing to 1"
    ] * 3
    found = feed(Watch(stall_s=0, notify_steps=0), lines)
    assert [(a.kind, a.step) for a in found] == [("nan", 5)]


def test_sample_carries_the_current_step_for_a_dict_line() -> None:
    watch = Watch(stall_s=0, notify_steps=0)
    feed(
        watch, [" 50%|█████     | 20/40 [00:02<00:02, 9.1it/s]", "{'loss': '3.1', 'epoch': '0.5'}"]
    )
    assert watch.sample == MetricSample(step=20, loss=3.1, segment=0)


def test_the_hang_line_shown_has_no_control_sequences() -> None:
    from phoenix_engine.io.output import OutputTail

    tail = OutputTail()
    tail.add(
        "stdout",
        b"step 1\n\r\x1b[2K\x1b[1A\x1b[2KEpoch 0/1 \x1b[35m\xe2\x94\x81\x1b[0m 3/40\n\x1b[0m\n",
    )
    assert tail.last_line() == "Epoch 0/1 ━ 3/40"
