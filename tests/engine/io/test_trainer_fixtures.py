"""Real trainer output (recorded by tests/frameworks/record_fixtures.py) read end to end.

Each fixture is what a pipe saw from a tiny real run (stdout and stderr joined, ``\\r`` intact):
Hugging Face Trainer 5, Lightning 2.6 (Rich and TQDM bars), plain tqdm, torchrun with gloo.
The bytes go through the engine's metric path (:class:`HintedLines`, then :class:`Telemetry`)
in reads of several sizes: a read may end anywhere, inside a bar frame or a character.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from virtual_time import VirtualTime

from phoenix_engine import events as ev
from phoenix_engine.core.settings import resolve
from phoenix_engine.io.telemetry import Telemetry

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "trainers"


def replay(name: str, *, chunk: int = 512, **env: str) -> list[ev.Event]:
    """Feed a fixture in ``chunk``-byte reads, 0.11 s apart; every event emitted (the losses
    the watch kept come last, as MetricSamples, since samples leave at most ten a second)."""
    data = (FIXTURES / f"{name}.log").read_bytes()
    emitted: list[ev.Event] = []
    clock = VirtualTime()
    settings = resolve(project_dir=Path("."), env={"PHOENIX_NOTIFY_STEPS": "1", **env})
    telemetry = Telemetry(settings, emit=emitted.append, gpu=None, host=None, monotonic=clock)
    finder = telemetry.lines_for()
    for at in range(0, len(data), chunk):
        clock.now += 0.11
        telemetry.on_lines(finder.feed(data[at : at + chunk]))
    telemetry.on_lines(finder.flush())
    telemetry.flush_sample()
    waiting = telemetry.watch.flush()
    if waiting is not None:
        emitted.append(waiting)
    kept = [ev.MetricSample(step=step, loss=loss) for step, loss in telemetry.watch.loss_history()]
    return [*emitted, ev.Notice(message="the watch kept:"), *kept]


def samples(events: list[ev.Event]) -> list[ev.MetricSample]:
    return [e for e in events if isinstance(e, ev.MetricSample)]


def of(events: list[ev.Event], kind: type[ev.Event]) -> list[ev.Event]:
    return [e for e in events if isinstance(e, kind)]


# name: (last step, total, a loss seen, steps that must never appear)
HEALTHY = {
    "hf_trainer": (40, 40, 3.9, {6}),  # 6: the evaluation bar's total
    "lightning_rich_pipe": (80, 80, None, set()),  # Rich on a pipe: one frame, at the end
    "lightning_rich_forced": (80, 80, None, set()),
    "lightning_tqdm": (80, None, None, set()),
    "tqdm_loop": (60, 60, None, {200, 8}),  # the Map bar and the eval bar
    "accelerate_launch": (20, 20, None, {200}),  # the same loop under `accelerate launch`
    "torchrun_crash": (8, 30, 3.2669, set()),  # 8: "ValueError: ... at step 8"
}


@pytest.mark.parametrize("chunk", [61, 512, 1500])
@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_steps_totals_and_losses(name: str, chunk: int) -> None:
    last, total, loss, never = HEALTHY[name]
    events = replay(name, chunk=chunk)
    seen = samples(events)
    cut = next(i for i, e in enumerate(events) if isinstance(e, ev.Notice))
    steps = [s.step for s in samples(events[:cut]) if s.step is not None]
    assert steps and max(steps) == last
    assert not never & set(steps)
    assert steps == sorted(steps)  # one run, steps never go back: a single segment
    assert {s.segment for s in seen} == {0}
    progress = [e.step for e in events if isinstance(e, ev.Progress)]
    assert progress == sorted(set(progress))  # one progress event per step, even at epoch ends
    assert seen[-1].total_steps == total or any(s.total_steps == total for s in seen)
    assert not [a for a in of(events, ev.Anomaly) if getattr(a, "kind", "") == "nan"]
    if loss is not None:
        assert any(s.loss is not None and math.isclose(s.loss, loss, rel_tol=0.02) for s in seen)


def test_hf_trainer_grad_norm_eta_and_one_progress_per_step() -> None:
    events = replay("hf_trainer", chunk=128)
    assert any(s.grad_norm is not None and 0.5 < s.grad_norm < 2 for s in samples(events))
    progress = [e for e in events if isinstance(e, ev.Progress)]
    steps = [p.step for p in progress]
    assert steps == sorted(set(steps)) and steps[-1] == 40
    assert all(p.loss for p in progress)
    assert any(p.eta_s is not None for p in progress)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("hf_trainer_nan", "grad_norm nan"),  # the loss reads '0' under the default filter
        ("lightning_nan", "nan"),  # the bar prints nan.0
        ("tqdm_loop_nan", "loss "),
    ],
)
@pytest.mark.parametrize("chunk", [61, 512, 1500])
def test_divergence_is_found_with_a_step(name: str, words: str, chunk: int) -> None:
    nans = [
        a
        for a in of(replay(name, chunk=chunk), ev.Anomaly)
        if isinstance(a, ev.Anomaly) and a.kind == "nan"
    ]
    assert nans, name
    assert words in nans[0].detail
    assert "unknown step" not in nans[0].detail and nans[0].step is not None


def test_hf_nan_is_placed_at_the_step_of_the_bar_it_overwrote() -> None:
    # "\r 30%| 9/30 [...]\r   \r{'loss': '2.532e+11', 'grad_norm': 'nan', ...}\n"
    nans = [a for a in of(replay("hf_trainer_nan", chunk=4096), ev.Anomaly)]
    assert [(a.kind, a.step) for a in nans if isinstance(a, ev.Anomaly)] == [("nan", 9)]


def test_torchrun_hang_shows_steps_after_the_launcher_banner() -> None:
    events = replay("torchrun_hang")
    seen = samples(events[: next(i for i, e in enumerate(events) if isinstance(e, ev.Notice))])
    assert [s.step for s in seen if s.step is not None][-1] >= 7
    assert seen[-1].total_steps == 30
