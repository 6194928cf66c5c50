"""Phoenix over real tiny trainings: Hugging Face Trainer, Lightning, plain tqdm, torchrun.

Each test runs the real ``phoenix --unattended`` on a scratch project holding a copy of one
script from ``trainers/`` (random-weight models from configs, generated data, nothing
downloaded) and reads what Phoenix journaled in ``.phoenix_cli/run.log``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = [pytest.mark.frameworks, pytest.mark.timeout(300)]

TRAINERS = Path(__file__).resolve().parent / "trainers"
PHOENIX = str(Path(sys.executable).with_name("phoenix"))
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
PY = sys.executable


def phoenix(
    project: Path, command: list[str], timeout: float = 240, **settings: str
) -> tuple[int, list[dict[str, Any]]]:
    """Run phoenix on ``command`` in ``project``; (exit code, journaled events)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "TTY_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PHOENIX_PATCH_MODE="restart-only")
    env.update({f"PHOENIX_{k.upper()}": v for k, v in settings.items()})
    argv = [PHOENIX, "--unattended", "-C", str(project), "--", *command]
    done = subprocess.run(argv, env=env, cwd=project, capture_output=True, timeout=timeout)
    journal = project / ".phoenix_cli" / "run.log"
    events = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return done.returncode, events


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def _project(path: Path) -> Path:
    for script in TRAINERS.glob("*.py"):
        shutil.copy(script, path / script.name)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _project(tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def survivors(project: Path) -> list[psutil.Process]:
    """Processes still running a script of this project."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(project) in part for part in proc.info["cmdline"] or ()):
            found.append(proc)
    return found


# --- Hugging Face Trainer ----------------------------------------------------------------------


def test_hf_trainer_progress_with_eta(project: Path) -> None:
    cmd = [PY, "hf_train.py", "--max_steps", "40", "--sleep", "0.1", "--eval_steps", "20"]
    code, events = phoenix(project, cmd, notify_steps="10", heartbeat_startup_min="5")
    assert code == 0
    progress = named(events, "progress")
    steps = [p["step"] for p in progress]
    assert steps == sorted(set(steps)) and steps and steps[-1] >= 30  # eval bars never counted
    assert any(p["eta_s"] is not None for p in progress)
    assert all(p["loss"] for p in progress)
    assert not named(events, "anomaly")


def test_hf_trainer_nan_under_the_default_filter_is_stopped(project: Path) -> None:
    cmd = [PY, "hf_train.py", "--max_steps", "400", "--lr", "1e5", "--sleep", "0.05"]
    code, events = phoenix(project, cmd, nan_action="stop", heartbeat_startup_min="5")
    assert code == 4  # stopped, not "completed" with inf weights in every checkpoint
    (nan,) = [a for a in named(events, "anomaly") if a["kind"] == "nan"]
    assert "nan" in nan["detail"] and nan["step"] is not None
    assert named(events, "stopped") and not named(events, "run_completed")


def test_hf_trainer_crash_resumes_from_its_checkpoint(project: Path) -> None:
    cmd = [PY, "hf_train.py", "--output_dir", "out", "--max_steps", "20", "--save_steps", "10"]
    cmd += ["--crash_at", "12"]
    code, events = phoenix(
        project,
        cmd,
        checkpoint_glob="out/checkpoint-*",
        resume_args="--resume_from_checkpoint {checkpoint}",
        heartbeat_startup_min="5",
    )
    assert code == 0
    started = named(events, "process_started")
    assert len(started) == 2
    assert "--resume_from_checkpoint out/checkpoint-10" in started[1]["command"]
    assert named(events, "restarting")[0]["checkpoint"] == "out/checkpoint-10"
    assert (project / "out" / "checkpoint-20").is_dir()


# --- Lightning and tqdm ------------------------------------------------------------------------


def test_lightning_default_rich_bar_progress_and_no_false_hang(project: Path) -> None:
    # 3 epochs of 40 batches at 0.1 s: 12 s of training, twice the 6 s heartbeat; on a bare
    # pipe the Rich bar would print nothing until fit() ends.
    cmd = [PY, "lightning_train.py", "--epochs", "3", "--sleep", "0.1"]
    code, events = phoenix(
        project, cmd, heartbeat_min="0.1", heartbeat_startup_min="5", notify_steps="10"
    )
    assert code == 0
    assert not named(events, "hang_detected")
    steps = [p["step"] for p in named(events, "progress")]
    assert steps and steps == sorted(set(steps)) and steps[-1] >= 100
    assert any(p["eta_s"] is not None for p in named(events, "progress"))


def test_plain_tqdm_loop(project: Path) -> None:
    cmd = [PY, "tqdm_loop.py", "--steps", "60", "--sleep", "0.05"]
    code, events = phoenix(project, cmd, notify_steps="10", heartbeat_startup_min="5")
    assert code == 0
    steps = [p["step"] for p in named(events, "progress")]
    assert steps and max(steps) <= 60 and steps == sorted(set(steps))  # Map and eval bars left out
    assert any(p["eta_s"] is not None for p in named(events, "progress"))


# --- torchrun, 2 gloo ranks --------------------------------------------------------------------


def torchrun(*args: str) -> list[str]:
    port = str(free_port())
    return [TORCHRUN, "--nproc_per_node", "2", "--master_port", port, "ddp_train.py", *args]


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[dict[str, Any]]]:
    """One torchrun run whose rank 0 raises at step 8 (shared by the two tests below)."""
    project = _project(tmp_path_factory.mktemp("torchrun_crash"))
    cmd = torchrun("--crash_rank", "0", "--at", "8")
    return project, *phoenix(project, cmd, max_retries="0", notify_steps="2")


def test_torchrun_rank_crash_progress_and_nothing_left(
    crashed: tuple[Path, int, list[dict[str, Any]]],
) -> None:
    project, code, events = crashed
    assert code == 1  # gave up: max_retries 0
    assert not named(events, "hang_detected")  # the banner did not end the start-up allowance
    assert [p["step"] for p in named(events, "progress")][-1] >= 4
    (failure,) = named(events, "failure")
    assert failure["kind"] == "exception"
    assert not survivors(project)


def test_torchrun_rank_crash_is_classified_by_its_root_cause(
    crashed: tuple[Path, int, list[dict[str, Any]]],
) -> None:
    _, _, events = crashed
    (failure,) = named(events, "failure")
    assert failure["exc_type"] == "ValueError"  # rank 0's error, not rank 1's gloo fallout
    assert "bad batch on rank 0" in failure["summary"]


def test_torchrun_hang_is_killed_with_nothing_surviving(project: Path) -> None:
    cmd = torchrun("--hang_rank", "1", "--at", "8")
    code, events = phoenix(
        project, cmd, max_retries="0", heartbeat_min="0.1", heartbeat_startup_min="5"
    )
    assert code == 1
    (hang,) = named(events, "hang_detected")
    assert hang["last_line"].startswith("step ")  # it hung after training began
    assert named(events, "failure")[0]["kind"] == "hang"
    assert not survivors(project)
