"""Under a flood the metric watch parses a stride of lines, and every line that may be NaN."""

from __future__ import annotations

from phoenix_engine.io.telemetry import PARSE_BUDGET, _within_budget


def test_a_flood_keeps_a_stride_and_the_newest_line() -> None:
    lines = [f"step {i} loss 0.5" for i in range(1000)]
    kept = _within_budget(lines)
    assert len(kept) <= PARSE_BUDGET + 1 and kept[0] == lines[0] and kept[-1] == lines[-1]


def test_a_flood_never_skips_a_line_that_may_be_nan_or_inf() -> None:
    lines = [f"step {i} loss 0.5" for i in range(1000)]
    lines[333] = "step 333 loss nan"
    lines[777] = "step 777 loss Inf"
    kept = _within_budget(lines)
    assert "step 333 loss nan" in kept and "step 777 loss Inf" in kept


def test_a_short_read_is_parsed_whole() -> None:
    lines = ["step 1 loss nan", "step 2 loss 0.4"]
    assert list(_within_budget(lines)) == lines
