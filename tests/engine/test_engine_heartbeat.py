"""The engine's hang limit: launcher banners keep the start-up allowance, checkpoints are life,
and a learned limit catches a run that stops printing sooner than the heartbeat."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode

Make = Callable[..., Settings]


def run(engine: Engine, timeout: float = 30) -> ExitCode:
    return asyncio.run(asyncio.wait_for(engine.run(), timeout))


BANNER = """
import sys, time
w = "W1202 08:54:37.843000 16477 torch/distributed/run.py:874] "
print(w, file=sys.stderr)
print(w + "*" * 41, file=sys.stderr)
print(w + "Setting OMP_NUM_THREADS environment variable for each process to be 1", file=sys.stderr)
print(w + "*" * 41, file=sys.stderr, flush=True)
"""


def test_torchrun_banner_does_not_end_the_startup_allowance(
    make_settings: Make, recorder: Recorder
) -> None:
    # workers import torch for 2 s after the banner; the heartbeat is 0.6 s, start-up 12 s
    script = BANNER + "time.sleep(2.0)\nprint('step 1/2 loss 0.5', flush=True)\n"
    s = make_settings(script, heartbeat_min="0.01", heartbeat_startup_min="0.2")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    assert "hang_detected" not in recorder.names()
    (spoke,) = [n for n in recorder.of(ev.Notice) if n.heartbeat_s is not None]
    assert "step 1/2 loss 0.5" in spoke.message


def test_a_checkpoint_being_written_is_life(make_settings: Make, recorder: Recorder) -> None:
    # silent for 7 s after its first line but writing a checkpoint all along (heartbeat 3 s)
    script = """
import os, time
print('step 1 loss 0.5', flush=True)
os.makedirs('out/checkpoint-1', exist_ok=True)
with open('out/checkpoint-1/model.safetensors', 'wb') as fh:
    for _ in range(35):
        fh.write(b'x' * 1000); fh.flush(); time.sleep(0.2)
print('saved', flush=True)
"""
    s = make_settings(script, heartbeat_min="0.05", max_retries="0")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    assert "hang_detected" not in recorder.names()


def test_a_silent_run_without_checkpoints_is_still_a_hang(
    make_settings: Make, recorder: Recorder
) -> None:
    script = "import time\nprint('step 1 loss 0.5', flush=True)\ntime.sleep(30)\n"
    s = make_settings(script, heartbeat_min="0.05", max_retries="0")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    (hang,) = recorder.of(ev.HangDetected)
    assert 3 <= hang.silent_s < 8


def test_learned_limit_is_announced_and_journaled(make_settings: Make, recorder: Recorder) -> None:
    script = "import time\nfor i in range(30):\n    print(f'step {i} loss 0.5', flush=True)\n"
    script += "    time.sleep(0.02)\n"
    s = make_settings(script, heartbeat_min="15", heartbeat_learn="1")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    learned = [n for n in recorder.of(ev.Notice) if "learned" in n.heartbeat_from]
    assert learned and learned[0].heartbeat_s == 120.0  # the 2-minute floor
    assert "longest gap" in learned[0].heartbeat_from
    journal = (s.state_dir / "run.log").read_text()
    assert "hang limit now 2.0 min (learned: 10x the longest gap" in journal


def test_state_dir_is_ignored_by_git(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("print('ok')\n")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    assert (s.state_dir / ".gitignore").read_text() == "*\n"
