"""Watch fed sequences of real-looking lines: NaN and spike episodes, stalls, progress."""

from __future__ import annotations

import math

import pytest

from phoenix_engine.core.anomaly import Watch
from phoenix_engine.core.metrics import parse_line_raw
from phoenix_engine.core.readings import read_line
from phoenix_engine.events import Anomaly, MetricSample, Progress


def feed(watch: Watch, lines: list[str], t0: float = 0.0, dt: float = 1.0) -> list[str]:
    """Feed one line per ``dt`` seconds; events as 'kind@step'."""
    out: list[str] = []
    for i, line in enumerate(lines):
        parsed = parse_line_raw(line)
        assert parsed is not None, line
        for event in watch.feed(parsed[0], parsed[1], t0 + i * dt):
            kind = event.kind if isinstance(event, Anomaly) else "progress"
            out.append(f"{kind}@{event.step}")
    return out


def plain(losses: list[str], start: int = 1) -> list[str]:
    return [f"step {start + i} loss {loss}" for i, loss in enumerate(losses)]


def quiet(
    *, notify_steps: int = 0, spike_k: float = 4.0, window: int = 50, history: int = 200
) -> Watch:
    """A Watch with stalls off (and progress off unless asked for)."""
    return Watch(
        stall_s=0, notify_steps=notify_steps, spike_k=spike_k, window=window, history=history
    )


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        (["0.9", "0.8", "nan", "nan", "nan", "0.7"], ["nan@3"]),  # one event per episode
        (["0.9", "nan", "0.8", "inf", "-inf"], ["nan@2", "nan@4"]),  # a finite loss ends it
        (["nan"], ["nan@1"]),
        (["0.5"] * 5, []),
    ],
)
def test_nan_episodes(losses: list[str], expected: list[str]) -> None:
    assert feed(quiet(), plain(losses)) == expected


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        (["1.0"] * 10 + ["4.5"], ["spike@11"]),  # above 4x the median of ten
        (["1.0"] * 10 + ["3.9"], []),
        (["1.0"] * 9 + ["9.0"], []),  # fewer than ten points: no judgement yet
        (["1.0"] * 10 + ["5", "6", "7", "1.0", "8"], ["spike@11", "spike@15"]),  # episodes
        (["-1.0"] * 10 + ["5.0"], []),  # a negative objective has no spikes
        (["1.0"] * 10 + ["nan", "5.0"], ["nan@11", "spike@12"]),
    ],
)
def test_spike_episodes(losses: list[str], expected: list[str]) -> None:
    assert feed(quiet(spike_k=4.0), plain(losses)) == expected


def test_spike_median_is_rolling() -> None:
    # the loss falls from 8 to 1 over a window of 10: 5.0 is a spike only once the window
    # holds the small losses, not when it is measured against the early ones.
    watch = quiet(window=10, spike_k=4.0)
    early = plain(["8.0"] * 10 + ["5.0"])
    late = plain(["1.0"] * 10 + ["5.0"], start=12)
    assert feed(watch, early) == []
    assert feed(watch, late) == ["spike@22"]


def test_nan_detail_and_history() -> None:
    watch = quiet()
    feed(watch, ["step 1 loss 0.75", "{'loss': 0.5, 'epoch': 0.1}", "step 3 loss=NaN"])
    # a line without a step (the Trainer's dict line) belongs to the step last seen
    assert watch.loss_history()[:2] == [(1, 0.75), (1, 0.5)]
    step, loss = watch.loss_history()[2]
    assert step == 3 and math.isnan(loss)
    events = watch.feed(MetricSample(step=4, loss=math.inf), None, 9.0)
    assert events == []  # still the same episode
    first = Watch(stall_s=0, notify_steps=0).feed(MetricSample(loss=math.nan), "nan", 0)
    assert first == [Anomaly(kind="nan", step=None, detail="loss nan at an unknown step")]


def test_history_is_bounded() -> None:
    watch = quiet(history=3)
    feed(watch, plain(["0.5", "0.4", "0.3", "0.2"]))
    assert watch.loss_history() == [(2, 0.4), (3, 0.3), (4, 0.2)]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (list(range(1, 251)), ["progress@100", "progress@200"]),
        ([95, 99, 105, 150, 199, 230], ["progress@105", "progress@230"]),  # crossing, not equal
        ([100, 150, 200], ["progress@200"]),  # the first sight only starts counting
        ([150, 250, 90, 120, 210], ["progress@250", "progress@120", "progress@210"]),  # went back
    ],
)
def test_progress_every_n_steps(steps: list[int], expected: list[str]) -> None:
    lines = [f"step {s} loss 0.5" for s in steps]
    assert feed(quiet(notify_steps=100), lines) == expected


def test_progress_carries_the_loss_as_printed_rate_and_eta() -> None:
    watch = quiet(notify_steps=100)
    lines = [f"step {s}/1000 loss 2.50e-01" for s in range(0, 201, 10)]
    events: list[Progress] = []
    for i, line in enumerate(lines):
        parsed = parse_line_raw(line)
        assert parsed is not None
        events += [
            e for e in watch.feed(parsed[0], parsed[1], 100.0 + i * 2.0) if isinstance(e, Progress)
        ]
    assert [e.step for e in events] == [100, 200]
    assert events[0].loss == "2.50e-01"
    assert events[0].rate == pytest.approx(5.0)  # 10 steps every 2 s
    assert events[1].eta_s == pytest.approx(800 / 5.0)


def test_progress_rate_falls_back_to_the_printed_rate() -> None:
    watch = quiet(notify_steps=10)
    sample = MetricSample(step=5, loss=1.0, rate=4.0, total_steps=None)
    assert watch.feed(sample, "1.0", 7.0) == []
    # same instant; the step's own loss has not come yet: the tick releases the event
    assert watch.feed(MetricSample(step=10, rate=4.0), None, 7.0) == []
    assert watch.flush() == Progress(step=10, loss="1.0", rate=4.0, eta_s=None)
    assert watch.flush() is None


def test_lightning_bars_feed_progress_across_epochs() -> None:
    bar = "Epoch {e}:  50%|█████     | {b}/200 [00:10<00:10, 20.00it/s, v_num=0, train_loss={l}]"
    lines = [bar.format(e=e, b=b, l=0.5) for e in range(3) for b in (50, 100, 150, 200)]
    assert feed(quiet(notify_steps=250), lines) == ["progress@250", "progress@500"]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # (time, step or None for a non-metric line, check at) -> stall events
        ([(0, 1), (10, 2), (20, None), (30, None), ("check", 75)], ["stall@2"]),
        ([(0, 1), (10, 2), (20, None), ("check", 69)], []),  # not yet 60 s
        ([(0, 1), (10, 2), ("check", 100)], []),  # output stopped too: a hang, not a stall
        ([(0, 1), (10, 2), (20, None), ("check", 75), ("check", 90)], ["stall@2"]),  # once
        # the step moving on ends the episode; a new stall is a new event
        (
            [(0, 1), (20, None), ("check", 61), (70, 2), (80, None), ("check", 131)],
            ["stall@1", "stall@2"],
        ),
        ([("check", 1000)], []),  # no step seen yet
    ],
)
def test_stalls(script: list[tuple[object, int | None]], expected: list[str]) -> None:
    watch = Watch(stall_s=60, notify_steps=0)
    last_output = 0.0
    found: list[str] = []
    for when, what in script:
        if when == "check":
            assert isinstance(what, int)
            event = watch.check_stall(float(what), last_output_at=last_output)
            found += [f"{event.kind}@{event.step}"] if event else []
            continue
        assert isinstance(when, int)
        last_output = float(when)
        if what is not None:
            assert watch.feed(MetricSample(step=what, loss=0.5), "0.5", float(when)) == []
    assert found == expected


def test_stall_by_metric_lines_alone_and_off_switch() -> None:
    watch = Watch(stall_s=60, notify_steps=0)
    for t in range(0, 100, 10):  # the same step printed again and again
        watch.feed(MetricSample(step=7, loss=0.5), "0.5", float(t))
    event = watch.check_stall(100.0)
    assert event == Anomaly(
        kind="stall", step=7, detail="step 7 has not advanced for 1.7 min while output continues"
    )
    off = Watch(stall_s=0, notify_steps=0)
    off.feed(MetricSample(step=7), None, 0.0)
    off.feed(MetricSample(step=7), None, 500.0)
    assert off.check_stall(1000.0) is None


def test_restart_forgets_step_timing_but_keeps_losses() -> None:
    watch = Watch(stall_s=60, notify_steps=0)
    feed(watch, plain(["1.0"] * 10))
    watch.restart()
    assert watch.check_stall(10_000.0, last_output_at=9_999.0) is None
    # resumed where it stopped (the step does not go back): the same loss history
    assert feed(watch, plain(["5.0"], start=11)) == ["spike@11"]


def test_a_step_that_goes_back_starts_a_new_segment_without_false_spikes() -> None:
    watch = Watch(stall_s=0, notify_steps=0)
    feed(watch, plain(["1.0"] * 12))  # steps 1..12
    watch.restart()  # restarted from scratch: a fresh model's loss is high again
    assert feed(watch, plain(["6.0", "5.5", "5.0"], start=1)) == []
    assert watch.segment == 1
    assert watch.sample is not None and watch.sample.segment == 1
    assert watch.loss_history() == [(1, 6.0), (2, 5.5), (3, 5.0)]
    # spikes are still judged within the new segment
    assert feed(watch, plain(["5.0"] * 10 + ["40"], start=4)) == ["spike@14"]


def test_progress_waits_for_the_loss_printed_after_the_bar() -> None:
    # the Trainer draws the bar at step 10, then prints that step's dict line
    watch = quiet(notify_steps=5)
    lines = [" 12%|#   | 5/40 [00:01<00:07, 5.00it/s]", "{'loss': '3.91', 'epoch': '0.1'}"]
    lines += [" 25%|##  | 10/40 [00:02<00:06, 5.00it/s]", "{'loss': '3.85', 'epoch': '0.2'}"]
    out = []
    for i, line in enumerate(lines):
        reading = read_line(line)
        assert reading is not None
        out += watch.feed(reading.sample, reading.raw_loss, float(i), bar=reading.bar)
    assert [(e.step, e.loss) for e in out if isinstance(e, Progress)] == [(10, "3.85")]


def test_one_progress_event_per_step_and_rates_from_wall_time() -> None:
    watch = quiet(notify_steps=1)
    events = []
    for t, step in [(0.0, 1), (1.0, 2), (1.0, 2), (2.0, 3), (2.001, 3), (3.0, 4)]:
        events += watch.feed(MetricSample(step=step, loss=0.5, rate=9999.0), "0.5", t)
    progress = [e for e in events if isinstance(e, Progress)]
    assert [e.step for e in progress] == [2, 3, 4]
    assert [e.rate for e in progress[1:]] == [pytest.approx(1.0), pytest.approx(1.0)]
