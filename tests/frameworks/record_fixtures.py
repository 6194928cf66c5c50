"""Record real trainer output as fixtures for tests/engine/io/test_trainer_fixtures.py.

Run with the frameworks venv (``make test-frameworks`` builds it):
    .venv-frameworks/bin/python tests/frameworks/record_fixtures.py [case ...]

Each case runs a tiny random-weight training from ``tests/frameworks/trainers/`` in a scratch
directory with stdout and stderr joined on one pipe (``2>&1``, no terminal), exactly as a
supervisor reading pipes sees them, ``\\r`` intact. Nothing is downloaded (HF_HUB_OFFLINE=1).
A fixture longer than MAX_BYTES keeps its head and its tail with a marker line between them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
TRAINERS = HERE / "trainers"
OUT = HERE.parent / "fixtures" / "trainers"
MAX_BYTES = 24_000
PY = sys.executable
TORCHRUN = str(Path(PY).with_name("torchrun"))
ACCELERATE = str(Path(PY).with_name("accelerate"))
DDP = ["--nproc_per_node", "2", "--master_port", "29561", str(TRAINERS / "ddp_train.py")]

CASES: dict[str, tuple[list[str], dict[str, str], float]] = {
    "hf_trainer": (
        [PY, str(TRAINERS / "hf_train.py"), "--max_steps", "40", "--eval_steps", "20"],
        {},
        300,
    ),
    "hf_trainer_nan": (
        [PY, str(TRAINERS / "hf_train.py"), "--max_steps", "30", "--lr", "1e5"],
        {},
        300,
    ),
    "lightning_rich_pipe": ([PY, str(TRAINERS / "lightning_train.py"), "--epochs", "2"], {}, 300),
    "lightning_rich_forced": (
        [PY, str(TRAINERS / "lightning_train.py"), "--epochs", "2"],
        {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"},
        300,
    ),
    "lightning_tqdm": (
        [PY, str(TRAINERS / "lightning_train.py"), "--bar", "tqdm", "--epochs", "2"],
        {},
        300,
    ),
    "lightning_nan": (
        [PY, str(TRAINERS / "lightning_train.py"), "--bar", "tqdm", "--lr", "1e6"],
        {},
        300,
    ),
    "tqdm_loop": ([PY, str(TRAINERS / "tqdm_loop.py")], {}, 120),
    "tqdm_loop_nan": ([PY, str(TRAINERS / "tqdm_loop.py"), "--lr", "40"], {}, 120),
    "accelerate_launch": (
        [ACCELERATE, "launch", str(TRAINERS / "tqdm_loop.py"), "--steps", "20"],
        {},
        180,
    ),
    "torchrun_crash": ([TORCHRUN, *DDP, "--crash_rank", "0", "--at", "8"], {}, 180),
    "torchrun_hang": ([TORCHRUN, *DDP, "--hang_rank", "1", "--at", "8"], {}, 20),
}


def record(name: str) -> None:
    argv, extra, timeout = CASES[name]
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "FORCE_COLOR", "TTY_"))
    }
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1", COLUMNS="100")
    env.update(extra)
    env.pop("TERM", None)
    with tempfile.TemporaryDirectory(prefix="phoenix-rec-") as tmp:
        proc = subprocess.Popen(
            argv,
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:  # the hang case: torchrun's workers have their own
            kids = psutil.Process(proc.pid).children(recursive=True)  # sessions: kill them too
            os.killpg(proc.pid, signal.SIGKILL)
            for kid in kids:
                with contextlib.suppress(psutil.Error):
                    kid.kill()
            out, _ = proc.communicate()
    out = out.replace(tmp.encode(), b"/tmp/run").replace(
        str(Path(PY).parents[1]).encode(), b"/venv"
    )
    out = out.replace(str(HERE.parents[1]).encode(), b"/src")
    if len(out) > MAX_BYTES:
        half = MAX_BYTES // 2
        cut = len(out) - 2 * half
        out = out[:half] + f"\n[... {cut} bytes of this recording cut ...]\n".encode() + out[-half:]
    (OUT / f"{name}.log").write_bytes(out)
    print(f"{name}: exit {proc.returncode}, {len(out)} bytes")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for case in sys.argv[1:] or list(CASES):
        record(case)
