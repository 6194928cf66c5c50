"""Resume arguments the script accepts: doctor's --help probe, and a refused flag at run time."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings, resolve
from phoenix_engine.doctor import run_checks
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.resumeflag import rejected, resume_flag, trainer_hint

Make = Callable[..., Settings]

# Saves a checkpoint, crashes once; its parser knows no --resume_from_checkpoint.
NO_FLAG = """
import argparse, os
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=3)
args = p.parse_args()
os.makedirs("out/checkpoint-1", exist_ok=True)
Path("out/checkpoint-1/state.json").write_text("{}")
print("step 1 loss 0.5", flush=True)
if not Path("crashed").exists():
    Path("crashed").write_text("1")
    raise RuntimeError("transient")
print("done")
"""

WITH_FLAG = NO_FLAG.replace(
    'p.add_argument("--steps"',
    'p.add_argument("--resume_from_checkpoint")\np.add_argument("--steps"',
)
RESUME = "--resume_from_checkpoint {checkpoint}"


def test_a_refused_resume_flag_is_dropped_and_the_run_goes_on(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(
        NO_FLAG, checkpoint_glob="out/checkpoint-*", resume_args=RESUME, max_retries="1"
    )
    code = asyncio.run(asyncio.wait_for(Engine(s, env=os.environ, sinks=[recorder]).run(), 60))
    assert code == ExitCode.COMPLETED
    started = [e.command for e in recorder.of(ev.ProcessStarted)]
    assert len(started) == 3
    assert "--resume_from_checkpoint" in started[1] and "--resume" not in started[2]
    notices = [n.message for n in recorder.of(ev.Notice)]
    assert any("refused the resume arguments" in m and "unrecognized" in m for m in notices)
    reasons = [r.reason for r in recorder.of(ev.Restarting)]
    assert "refused the resume arguments" in reasons[-1]
    assert len(recorder.of(ev.Failure)) == 1  # the refusal is not a failure to repair
    assert "refused the resume arguments" in (s.state_dir / "run.log").read_text()


def test_an_accepted_flag_keeps_resuming(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings(
        WITH_FLAG, checkpoint_glob="out/checkpoint-*", resume_args=RESUME, max_retries="1"
    )
    code = asyncio.run(asyncio.wait_for(Engine(s, env=os.environ, sinks=[recorder]).run(), 60))
    assert code == ExitCode.COMPLETED
    started = [e.command for e in recorder.of(ev.ProcessStarted)]
    assert len(started) == 2 and "--resume_from_checkpoint out/checkpoint-1" in started[1]


@pytest.mark.parametrize(
    ("lines", "code", "seconds", "refused"),
    [
        (
            [
                "usage: train.py",
                "train.py: error: unrecognized arguments: --resume_from_checkpoint x",
            ],
            2,
            1.0,
            True,
        ),
        (
            [
                "ValueError: Some specified arguments are not used by the HfArgumentParser: "
                "['--resume_from_checkpoint', 'x']"
            ],
            1,
            3.0,
            True,
        ),
        (["Error: No such option: --resume_from_checkpoint"], 2, 0.5, True),
        (["train.py: error: unrecognized arguments: --other"], 2, 1.0, False),
        (["train.py: error: unrecognized arguments: --resume_from_checkpoint x"], 2, 600.0, False),
        (["RuntimeError: boom"], 1, 1.0, False),
    ],
)
def test_rejected(lines: list[str], code: int, seconds: float, refused: bool) -> None:
    assert bool(rejected(lines, code, seconds, RESUME)) is refused


def test_resume_flag() -> None:
    assert resume_flag(RESUME) == "--resume_from_checkpoint"
    assert resume_flag("--ckpt={checkpoint}") == "--ckpt"
    assert resume_flag("{checkpoint}") is None


def _doctor(tmp_path: Path, script: str, **env: str) -> list[tuple[str, bool, str]]:
    (tmp_path / "train.py").write_text(script)
    given = {
        "PHOENIX_TRAIN_CMD": f"{sys.executable} train.py",
        "PHOENIX_PATCH_MODE": "restart-only",
    }
    given.update({f"PHOENIX_{k.upper()}": v for k, v in env.items()})
    settings = resolve(project_dir=tmp_path, env=given)
    checks = run_checks(settings, dict(os.environ))
    return [
        (c.name, c.ok, c.detail) for c in checks if c.name in ("resume arguments", "checkpoints")
    ]


def test_doctor_warns_when_help_lacks_the_flag(tmp_path: Path) -> None:
    rows = _doctor(tmp_path, NO_FLAG, checkpoint_glob="out/checkpoint-*", resume_args=RESUME)
    (name, ok, detail) = rows[-1]
    assert name == "resume arguments" and not ok
    assert "--help does not list --resume_from_checkpoint" in detail
    assert not (tmp_path / "crashed").exists()  # --help ran, not the training


def test_doctor_is_content_when_the_script_accepts_it(tmp_path: Path) -> None:
    rows = _doctor(tmp_path, WITH_FLAG, checkpoint_glob="out/checkpoint-*", resume_args=RESUME)
    assert rows[-1] == ("resume arguments", True, "train.py accepts --resume_from_checkpoint")


def test_doctor_suggests_trainer_settings_before_any_checkpoint(tmp_path: Path) -> None:
    script = "from transformers import Trainer, TrainingArguments\n"
    script += "args = TrainingArguments(output_dir='runs/gpt', save_steps=500)\n"
    ((name, ok, detail),) = _doctor(tmp_path, script)
    assert name == "checkpoints" and not ok
    assert "PHOENIX_CHECKPOINT_GLOB='runs/gpt/checkpoint-*'" in detail
    assert trainer_hint("print('hello')") == ""
