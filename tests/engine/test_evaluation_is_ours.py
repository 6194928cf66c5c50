"""An evaluation's processes are the run's own: its GPU memory is never "another process's"."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from engine_support import Recorder
from waiting import until

from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode

Make = Callable[..., Settings]
PY = sys.executable
EVAL = """
import os, pathlib, sys, time
pathlib.Path("eval.pid").write_text(str(os.getpid()))
while not pathlib.Path("go").exists():
    time.sleep(0.02)
print("eval_loss: 0.5")
"""


def test_the_evaluation_counts_as_ours_while_it_runs(make_settings: Make, tmp_path: Path) -> None:
    (tmp_path / "evaluate.py").write_text(EVAL)
    (tmp_path / "models").mkdir()
    s = make_settings(
        "import pathlib\npathlib.Path('out/final').mkdir(parents=True)\n"
        "pathlib.Path('out/final/model.txt').write_text('1')\nprint('step 1 loss 1')\n",
        eval_cmd=f"{PY} evaluate.py {{checkpoint}}",
        eval_metric_regex=r"eval_loss: (\S+)",
        candidate_glob="out/final",
        promote_path="models/current",
    )
    engine = Engine(s, env=os.environ, sinks=[Recorder()])
    pidfile = tmp_path / "eval.pid"

    async def scenario() -> tuple[ExitCode, set[int], int]:
        task = asyncio.create_task(engine.run())
        await until(lambda: pidfile.exists() and pidfile.read_text(), 30, what="the evaluation")
        ours = engine.training_pids()  # what NVML is told is this run's
        (tmp_path / "go").write_text("")
        return await asyncio.wait_for(task, 30), ours, int(pidfile.read_text())

    code, ours, evaluation = asyncio.run(scenario())
    assert code == ExitCode.COMPLETED
    assert evaluation in ours
    assert engine.training_pids() == set()  # nothing runs any more
