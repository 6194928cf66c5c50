"""Heartbeat: start-up allowance past launcher banners, learned limits, checkpoint life."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_engine import events as ev
from phoenix_engine.core.heartbeat import Heartbeat, is_launcher_noise
from phoenix_engine.core.run_state import RunView
from phoenix_engine.io.pulse import CheckpointPulse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "trainers"


@pytest.mark.parametrize(
    ("line", "noise"),
    [
        ("W1202 08:54:37.843000 16477 torch/distributed/run.py:874] ", True),
        ("W1202 08:54:37.843000 16477 torch/distributed/run.py:874] *******", True),
        ("Setting OMP_NUM_THREADS environment variable for each process to be 1", True),
        ("/venv/lib/python3.11/site-packages/x.py:21: FutureWarning: `a` is deprecated", True),
        ("  warnings.warn(", True),
        ("The following values were not passed to `accelerate launch` and had defaults used", True),
        ("\t`--num_processes` was set to a value of `1`", True),
        ("", True),
        ("step 1/30 loss 4.4373", False),
        ("GPU available: False, used: False", False),
        ("Traceback (most recent call last):", False),
    ],
)
def test_launcher_noise(line: str, noise: bool) -> None:
    assert is_launcher_noise(line) is noise


def test_torchrun_banner_keeps_the_startup_allowance() -> None:
    beat = Heartbeat(heartbeat_min=1, startup_min=10, learn=False)
    beat.start(0.0)
    banner, _, rest = (FIXTURES / "torchrun_hang.log").read_bytes().partition(b"step 1/")
    assert beat.output("stderr", banner, 1.0) is None
    assert not beat.spoke and beat.limit == 600  # the workers are still importing torch
    assert beat.left(500.0) > 0  # 499 s of silence after the banner: no hang yet
    notice = beat.output("stdout", b"step 1/" + rest, 500.0)
    assert beat.spoke and beat.limit == 60
    assert notice is not None and notice.heartbeat_s == 60
    assert "step 1/30" in notice.message and "after 500 s" in notice.message


def test_a_plain_first_line_switches_silently() -> None:
    beat = Heartbeat(heartbeat_min=1, startup_min=10, learn=False)
    assert beat.output("stdout", b"epoch 1\n", 2.0) is None
    assert beat.spoke and beat.limit == 60


def test_learned_limit_from_the_rhythm_capped_and_floored() -> None:
    beat = Heartbeat(heartbeat_min=15, startup_min=30, learn=True)
    beat.start(0.0)
    notices = [beat.output("stdout", b"go\n", 1.0)]
    t = 1.0
    for i in range(25):
        t += 5.0 if i != 7 else 14.0  # one longer gap: 14 s
        notices.append(beat.output("stdout", f"step {i} loss 0.5\n".encode(), t))
    learned = [n for n in notices if n is not None and "learned" in n.heartbeat_from]
    assert len(learned) == 1
    assert beat.limit == pytest.approx(140.0)  # 10 x 14 s
    assert "14.0 s" in learned[0].heartbeat_from and "step 7" in learned[0].heartbeat_from
    assert beat.left(t + 139) > 0 and beat.left(t + 141) < 0  # caught in minutes, not 15


def test_learned_limit_is_at_least_two_minutes_and_at_most_the_heartbeat() -> None:
    fast = Heartbeat(heartbeat_min=15, startup_min=30, learn=True)
    slow = Heartbeat(heartbeat_min=3, startup_min=30, learn=True)
    for beat, gap in ((fast, 1.0), (slow, 60.0)):
        beat.output("stdout", b"go\n", 0.0)
        for i in range(1, 30):
            beat.output("stdout", b"x\n", i * gap)
    assert fast.limit == 120.0
    assert slow.limit == 180.0


def test_learning_is_off_by_default_and_restarts_per_process() -> None:
    beat = Heartbeat(heartbeat_min=15, startup_min=30, learn=False)
    for i in range(50):
        assert beat.output("stdout", b"x\n", float(i)) is None
    assert beat.limit == 900
    beat.start(100.0)
    assert not beat.spoke and beat.limit == 1800


def test_checkpoint_pulse_sees_files_growing(tmp_path: Path) -> None:
    pulse = CheckpointPulse(tmp_path)
    assert pulse.changed() is False
    ckpt = tmp_path / "out" / "tmp-checkpoint-10"
    ckpt.mkdir(parents=True)
    (ckpt / "model.safetensors").write_bytes(b"x" * 10)
    assert pulse.changed() is True
    assert pulse.changed() is False
    with (ckpt / "model.safetensors").open("ab") as fh:
        fh.write(b"y" * 10)
    assert pulse.changed() is True
    custom = CheckpointPulse(tmp_path, "weights/*.pt")
    custom.changed()
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "a.pt").write_bytes(b"1")
    assert custom.changed() is True


def test_runview_shows_the_limit_in_force_eta_and_restarts() -> None:
    view = RunView()
    view.heartbeat = "15 min (PHOENIX_HEARTBEAT_MIN)"
    view.apply(ev.MetricSample(step=20, total_steps=100, loss=0.5, eta_s=190.0))
    assert "hang limit: 15 min (PHOENIX_HEARTBEAT_MIN)" in view.summary()
    view.apply(ev.Notice(message="x", heartbeat_s=150.0, heartbeat_from="learned: 10x 15 s"))
    assert "hang limit: 2.5 min (learned: 10x 15 s)" in view.summary()
    assert "step 20/100, loss 0.5, eta 3m10s" in view.summary()
    view.apply(ev.MetricSample(step=3, loss=4.0, segment=1))
    assert "(step count restarted 1x)" in view.summary()


def test_a_progress_bar_redrawn_in_place_is_the_training_speaking() -> None:
    beat = Heartbeat(heartbeat_min=1, startup_min=10, learn=False)
    beat.output("stderr", b"W1202 08:54:37.843000 16477 torch/distributed/run.py:874] *****\n", 1.0)
    assert not beat.spoke
    beat.output("stderr", b"\r  0%|          | 0/40 [00:00<?, ?it/s]", 2.0)
    assert beat.spoke and beat.limit == 60


@pytest.mark.parametrize(
    ("fixture", "first_words"),
    [
        ("accelerate_launch", "Map:"),  # accelerate's list of defaults is not the training
        ("torchrun_hang", "step 1/30"),  # nor torchrun's banner
        ("hf_trainer", "[transformers]"),  # the script's own library speaking counts
        ("lightning_tqdm", "GPU available"),
    ],
)
def test_first_words_in_recorded_runs(fixture: str, first_words: str) -> None:
    beat = Heartbeat(heartbeat_min=1, startup_min=10, learn=True)
    data = (FIXTURES / f"{fixture}.log").read_bytes()
    spoke = None
    for at in range(0, len(data), 64):
        notice = beat.output("stdout", data[at : at + 64], 1.0 + at / 1000)
        if notice is not None:
            spoke = notice
            break
    assert spoke is not None and beat.spoke
    assert f"({first_words}" in spoke.message.replace("'", "").replace('"', "")
