"""HintedLines: only lines that may carry a metric are cut out and decoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_engine.io.telemetry import HintedLines


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"noise\nstep 1 loss 0.5\nmore noise\n"], ["step 1 loss 0.5"]),
        ([b"a\nLoss: 0.3\nStep 4\nb\n"], ["Loss: 0.3", "Step 4"]),
        ([b"step 1 lo", b"ss 0.5\nnoise\n"], ["step 1 loss 0.5"]),  # a line across chunks
        ([b"nothing to see\n" * 100], []),
        ([b"10%|a| loss=0.9\r", b"20%|b| loss=0.8\r30%|c| loss=0.7"], ["loss=0.9", "loss=0.8"]),
        ([b"step 9 loss 0.1\r\n"], ["step 9 loss 0.1"]),  # CRLF
        ([b"epoch 1\rstep 2 loss 0.4\n"], ["step 2 loss 0.4"]),  # \\r rewrote the line
        ([b"step 3 loss \xff0.2\n"], ["step 3 loss \ufffd0.2"]),  # invalid UTF-8
    ],
)
def test_lines_with_hints(chunks: list[bytes], expected: list[str]) -> None:
    finder = HintedLines()
    got: list[str] = []
    for chunk in chunks:
        got.extend(finder.feed(chunk))
    assert [line.split("|")[-1].strip() if "|" in line else line for line in got] == expected


def test_flush_returns_the_unfinished_last_line() -> None:
    finder = HintedLines()
    assert finder.feed(b"noise\nstep 7 loss 0.2") == []
    assert finder.flush() == ["step 7 loss 0.2"]
    assert finder.flush() == []


def test_every_line_mode_for_custom_regexes() -> None:
    finder = HintedLines(every_line=True)
    assert finder.feed(b"objective=0.5\nx\n") == ["objective=0.5", "x"]


def test_a_line_without_newline_stays_bounded() -> None:
    finder = HintedLines()
    for _ in range(100):
        finder.feed(b"x" * 65536)
    assert len(finder.flush()) == 0  # no hint in it, and nothing grew without bound


def test_a_flood_of_metric_lines_is_sampled_but_never_hides_a_nan() -> None:
    from phoenix_engine import events as ev
    from phoenix_engine.core.settings import resolve
    from phoenix_engine.io.telemetry import Telemetry

    emitted: list[ev.Event] = []
    telemetry = Telemetry(
        resolve(project_dir=Path("."), env={}), emit=emitted.append, gpu=None, host=None
    )
    lines = [f"step {i} loss {1 / (i + 1):.4f}" for i in range(1000)]
    lines[537] = "step 537 loss nan"
    found = telemetry.on_lines(lines)
    assert [a.step for a in found] == [537]
    history = telemetry.watch.loss_history()
    assert len(history) < 100 and history[-1][0] == 999  # sampled, and the newest kept


def test_a_flood_is_read_sparingly_but_every_nan_line_is_read() -> None:
    now = [0.0]
    finder = HintedLines(clock=lambda: now[0])
    block = b"".join(f"step {i} loss=0.5 lr=3e-4\n".encode() for i in range(100))  # > 64 lines
    first = finder.feed(block)
    assert 2 <= len(first) <= 6 and first[-1] == "step 99 loss=0.5 lr=3e-4"
    now[0] = 0.01  # 10 ms later, but a line could report a divergence: it is read
    nan = block.replace(b"step 42 loss=0.5", b"step 42 loss=nan")
    got = finder.feed(nan)
    assert "step 42 loss=nan lr=3e-4" in got and got[-1] == "step 99 loss=0.5 lr=3e-4"
    assert len(got) <= 7
    now[0] = 0.02
    assert finder.feed(block) == []  # skipped, its newest line deferred
    assert finder.flush() == ["step 99 loss=0.5 lr=3e-4"]  # the newest value still arrives
    small = b"step 1 loss 0.5\nstep 2 loss 0.4\n"
    assert finder.feed(small) == ["step 1 loss 0.5", "step 2 loss 0.4"]  # small reads: all


def test_a_flood_in_small_reads_is_read_sparingly_too() -> None:
    """A pipe hands a fast writer's output over in pieces of 4 KiB or less: many small reads
    within 50 ms are a flood as one large read is; the NaN and the newest line still arrive."""
    now = [0.0]
    finder = HintedLines(clock=lambda: now[0])
    got: list[str] = []
    for i in range(0, 2000, 10):  # 200 reads of 10 lines, 0.1 ms apart
        block = b"".join(f"step {j} loss=0.5\n".encode() for j in range(i, i + 10))
        if i == 1230:
            block = block.replace(b"step 1234 loss=0.5", b"step 1234 loss=nan")
        got.extend(finder.feed(block))
        now[0] += 0.0001
    got.extend(finder.flush())
    assert "step 1234 loss=nan" in got and got[-1] == "step 1999 loss=0.5"
    assert len(got) < 100  # not the 2000 a read of each line would give
    now[0] += 1.0  # a trainer at its normal pace afterwards: every line is read
    assert finder.feed(b"step 1 loss 0.5\n") == ["step 1 loss 0.5"]
    now[0] += 1.0
    assert finder.feed(b"step 2 loss 0.4\n") == ["step 2 loss 0.4"]


@pytest.mark.parametrize(
    ("block", "lines"),
    [
        (b"step 1 loss NaN\nok\nstep 2 loss Inf\n", ["step 1 loss NaN", "step 2 loss Inf"]),
        (b"OVERFLOW! Rank 0 Skipping step\nok\n", ["OVERFLOW! Rank 0 Skipping step"]),
        (b"Current loss scale already at minimum\n", ["Current loss scale already at minimum"]),
        (b"loss nan inf nan\n", ["loss nan inf nan"]),  # one line, however many words
        (b"step 3 loss 0.5\n", []),
        (b"x nan\n" * 100, ["x nan"] * 64),  # at most 64 lines of one read
    ],
)
def test_the_lines_that_could_report_a_divergence(block: bytes, lines: list[str]) -> None:
    from phoenix_engine.core._hinted import _alarm_spans

    assert [block[a:b].decode() for a, b in sorted(_alarm_spans(block))] == lines


@pytest.mark.parametrize("size", [10, 1000])  # a skipped read shorter and longer than 16 KiB
def test_a_skipped_reads_newest_line_is_whole(size: int) -> None:
    now = [0.0]
    finder = HintedLines(clock=lambda: now[0])
    first = b"".join(f"step {i} loss=0.5\n".encode() for i in range(100))
    finder.feed(first)  # read (sampled): the next within 50 ms are skipped
    now[0] = 0.01
    noise = b"".join(f"{i:09d} {'x' * 40}\n".encode() for i in range(size))
    assert finder.feed(b"step 12345 loss=0.25\n" + noise) == []  # skipped
    now[0] = 0.02
    assert finder.feed(noise[: 60 * 51] + b"step 777 loss=0.125\n" + noise) == []
    # Whole lines only. A metric line more than 16 KiB before the end of a skipped read is not
    # kept for later (the next read that is read in full samples itself).
    expected = ["step 777 loss=0.125"] if size == 10 else []
    assert finder.flush() == expected
