"""After the run ended, the console still works on the project: a rollback reaches the journal."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from test_keys import _backed_up
from tui_support import until

from phoenix_engine.core.settings import resolve
from phoenix_engine.io.gpu import NoGpu
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.patches import BackupList
from phoenix_tui.console.run import build_app
from phoenix_tui.console.view_model import Phase


async def test_a_rollback_after_the_run_ended_is_journaled(tmp_path: Path) -> None:
    backup_id = _backed_up(tmp_path)
    (tmp_path / "train.py").write_text("print('step 1 loss 0.5')\n")
    env = {"PATH": os.environ.get("PATH", ""), "PHOENIX_TRAIN_CMD": f"{sys.executable} train.py"}
    settings = resolve(project_dir=tmp_path, env=env | {"PHOENIX_HEARTBEAT_MIN": "0"})
    app = build_app(settings, env, gpu_sampler=NoGpu("test"), services=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.model.phase is Phase.COMPLETED, timeout=30)
        await until(pilot, lambda: app.engine_task is not None and app.engine_task.done())
        app.query_one(BackupList).focus()
        await until(pilot, lambda: app._can_roll_back())  # the backups are listed in a thread
        await pilot.press("R", "y")
        lines = app.query_one(LogView).lines
        await until(pilot, lambda: any("rolled back" in line for line in lines))
        assert (tmp_path / "train.py").read_bytes() == b"batch_size = 64\n"
        assert not any("sink failed" in line for line in lines)
    journal = [json.loads(line) for line in (tmp_path / ".phoenix_cli" / "run.log").open()]
    rolled = [r for r in journal if r["event"] == "rolled_back"]
    assert [r["backup_id"] for r in rolled] == [backup_id]
    assert journal[-1]["event"] == "rolled_back"
