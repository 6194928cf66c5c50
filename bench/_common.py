"""Shared helpers for benchmarks: timing, medians, peak RSS, and one result row format.

Every benchmark prints human lines and, last, one ``RESULT {json}`` line per metric that
``bench/run_all.py`` collects into the table (metric, phoenix, baseline, ratio, goal, pass).
"""

from __future__ import annotations

import compileall
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]


def phoenix_exe() -> str:
    """The installed ``phoenix`` next to this interpreter (the venv's), else on PATH.

    Phoenix's bytecode is compiled first, as any install has it: where
    PYTHONDONTWRITEBYTECODE is set (this project's machines set it) each start would
    otherwise compile ~100 modules again, 0.2 s that every run against ``tee`` would carry."""
    here = Path(sys.executable).with_name("phoenix")
    found = str(here) if here.exists() else shutil.which("phoenix")
    if not found:
        raise SystemExit("phoenix is not installed: run `make bench` (it sets up .venv)")
    for package in ("phoenix_engine", "phoenix_tui"):
        compileall.compile_dir(ROOT / package, quiet=1)
    return found


def emitter_commands(project: Path) -> tuple[list[str], list[str], dict[str, str]]:
    """The same ``emit.py`` in ``project`` under ``| tee`` and under ``phoenix --unattended``
    (no log rotation, no heartbeat), and the environment for Phoenix's run."""
    py = shlex.quote(sys.executable)
    tee_cmd = ["/bin/sh", "-c", f"{py} emit.py | tee {shlex.quote(str(project))}/tee.log"]
    phx_cmd = [phoenix_exe(), "--unattended", "-C", str(project), "--", sys.executable, "emit.py"]
    return tee_cmd, phx_cmd, clean_env(PHOENIX_LOG_MAX_BYTES="0", PHOENIX_HEARTBEAT_MIN="0")


def run_measured(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB of the top process, exit code), stdout discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        try:
            p = psutil.Process(proc.pid)
            while not stop.is_set():
                peak = max(peak, p.memory_info().rss)
                stop.wait(0.05)
        except psutil.Error:
            pass

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    code = proc.wait()
    wall = time.perf_counter() - started
    stop.set()
    watcher.join()
    return wall, peak / 1e6, code


def median(values: list[float]) -> float:
    return statistics.median(values)


def result(
    metric: str, phoenix: float, baseline: float | None, goal: str, passed: bool, unit: str = ""
) -> None:
    ratio = phoenix / baseline if baseline else None
    row: dict[str, Any] = {
        "metric": metric,
        "phoenix": round(phoenix, 4),
        "baseline": round(baseline, 4) if baseline is not None else None,
        "ratio": round(ratio, 3) if ratio is not None else None,
        "goal": goal,
        "pass": passed,
        "unit": unit,
    }
    print("RESULT " + json.dumps(row), flush=True)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    env.update(extra)
    return env
