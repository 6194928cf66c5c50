"""The console on the real engine: the demo's two repairs, each accepted with `a`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tui_support import until

from phoenix_engine.core.settings import resolve
from phoenix_engine.io.gpu import SimulatedGpu
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.patches import DetailPane
from phoenix_tui.console.run import build_app
from phoenix_tui.console.view_model import PatchState, Phase
from phoenix_tui.demo import prepare_demo


async def test_operator_accepts_both_demo_repairs_and_the_training_completes(
    tmp_path: Path,
) -> None:
    project, env = prepare_demo(os.environ, parent=tmp_path)
    train = project / "train.py"
    train.write_text(train.read_text().replace("time.sleep(0.04)", "time.sleep(0)"))
    env |= {"PHOENIX_COOLDOWN_SECONDS": "0", "PHOENIX_GPU_INTERVAL_SEC": "0.25"}
    settings = resolve(project_dir=project, env=env)
    app = build_app(settings, env, gpu_sampler=SimulatedGpu(), title="demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.model.awaiting is not None, timeout=30)
        first = app.model.awaiting
        detail = app.query_one(DetailPane)
        shown = "\n".join(str(s.render()) for s in detail.query("Static"))
        assert "+    return 0.5 * learning_rate" in shown  # the typo fix, before anything
        assert "lerning_rate" in train.read_text()  # nothing applied before the key
        await pilot.press("a")
        await until(pilot, lambda: app.model.awaiting not in (None, first), timeout=30)
        assert "learning_rate * (1" in train.read_text()
        await pilot.press("a")
        await until(pilot, lambda: app.model.phase is Phase.COMPLETED, timeout=30)
        assert "batch_size = 32" in train.read_text()
        assert [e.state for e in app.model.patches.values()] == [PatchState.APPLIED] * 2
        assert app.gpu.status is not None and app.gpu.status.source == "simulated"
        assert app.loss.last is not None and app.loss.last.step == 120
        await pilot.press("q")  # the run is over: no question
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0
    journal = [json.loads(line) for line in (project / ".phoenix_cli" / "run.log").open()]
    names = [record["event"] for record in journal]
    assert names.count("patch_applied") == 2 and names[-1] == "run_completed"


PROGRESS = """\
import sys, time, pathlib
sys.stdout.write("epoch 1\\n 10%|#         |\\r 20%|##        |")
sys.stdout.flush()
while not pathlib.Path("go").exists():
    time.sleep(0.02)
sys.stdout.write("\\r100%|##########|\\n\\x1b[32mdone\\x1b[0m\\n")
"""


async def test_a_progress_bar_is_drawn_live_then_replaced_by_its_last_state(
    tmp_path: Path,
) -> None:
    (tmp_path / "train.py").write_text(PROGRESS)
    env = {"PATH": os.environ.get("PATH", ""), "PHOENIX_TRAIN_CMD": f"{sys.executable} train.py"}
    settings = resolve(project_dir=tmp_path, env=env | {"PHOENIX_HEARTBEAT_MIN": "0"})
    app = build_app(settings, env, title="bar")  # the default sampler: NVML
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(LogView)
        await until(pilot, lambda: log.partial == " 20%|##        |", timeout=20)
        assert "epoch 1" in log.lines and not any("20%" in line for line in log.lines)
        # the services headless has are there too: `phoenix attach` and `phoenix status` work
        assert (tmp_path / ".phoenix_cli" / "engine.sock").is_socket()
        (tmp_path / "go").touch()
        await until(pilot, lambda: app.model.phase is Phase.COMPLETED, timeout=20)
        app.flush()
        assert log.partial == ""
        assert "100%|##########|" in log.lines and "\x1b[32mdone\x1b[0m" in log.lines
        assert " 20%|##        |" not in log.lines  # rewritten in place, never a line of its own
        status = app.gpu.status
        assert status is not None and status.source in ("nvml", "none")
        assert status.source == "nvml" or status.reason  # no NVIDIA GPU: explained
