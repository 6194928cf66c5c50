"""Two consoles attached to an unattended engine over engine.sock (one of them stuck):
`a` in the other applies the patch in the engine; `d` detaches and the run goes on."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import waiting
from tui_support import until

from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import resolve
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.remote.attach_server import socket_path
from phoenix_engine.remote.wire import pack
from phoenix_engine.services import add_services
from phoenix_tui.console.attached import build_attached
from phoenix_tui.console.view_model import Phase

TYPO = "learning_rate = 0.1\nprint('step 1 loss 0.9', flush=True)\nprint(lerning_rate)\n"


def unattended(project: Path, **extra: str) -> Engine:
    env = {
        "PHOENIX_TRAIN_CMD": "python3 train.py",
        "PHOENIX_PRIMARY": "builtin",
        "PHOENIX_COOLDOWN_SECONDS": "0",
        "PHOENIX_APPROVAL": "manual",  # held for an attached console (or Discord)
        **extra,
    }
    settings = resolve(project_dir=project, env=env)
    desk = ApprovalDesk(settings.approval, default="auto")
    engine = Engine(settings, env=os.environ, approver=desk)
    add_services(engine, desk)
    return engine


async def test_accept_from_an_attached_console_applies_the_patch(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TYPO)
    engine = unattended(tmp_path)
    run = asyncio.create_task(engine.run())
    path = socket_path(engine.settings.state_dir)
    await waiting.until(path.exists, 10, what="the attach socket")
    _, stuck = await asyncio.open_unix_connection(str(path))  # attached, never reads
    stuck.write(pack({"type": "hello", "version": 1}))
    app = build_attached(engine.settings, title="attached")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.model.awaiting is not None, timeout=30)
        assert "lerning_rate" in (tmp_path / "train.py").read_text()
        await pilot.press("a")
        await until(pilot, lambda: app.model.phase is Phase.COMPLETED, timeout=30)
        assert "lerning_rate" not in (tmp_path / "train.py").read_text()
        (entry,) = app.model.patches.values()
        assert entry.approved_by == f"attach:{os.getuid()}"  # who, as the engine recorded it
        await pilot.press("d")
    assert await asyncio.wait_for(run, 10) == ExitCode.COMPLETED
    stuck.close()


async def test_detaching_leaves_the_run_untouched(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(
        "import time\nfor i in range(400):\n    print(f'step {i} loss 0.5', flush=True)\n"
        "    time.sleep(0.01)\n"
    )
    engine = unattended(tmp_path)
    run = asyncio.create_task(engine.run())
    path = socket_path(engine.settings.state_dir)
    await waiting.until(path.exists, 10, what="the attach socket")
    app = build_attached(engine.settings, title="attached")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.model.phase is Phase.RUNNING, timeout=20)
        await pilot.press("q")  # attached: q detaches too
    assert app.return_code == 0
    assert not run.done()  # still training after the console left
    assert await asyncio.wait_for(run, 30) == ExitCode.COMPLETED


async def test_stop_from_an_attached_console_stops_the_engine(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(
        "import time\nprint('step 1 loss 0.5', flush=True)\ntime.sleep(60)\n"
    )
    engine = unattended(tmp_path, PHOENIX_KILL_GRACE_SEC="1")
    run = asyncio.create_task(engine.run())
    path = socket_path(engine.settings.state_dir)
    await waiting.until(path.exists, 10, what="the attach socket")
    app = build_attached(engine.settings, title="attached")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.model.phase is Phase.RUNNING, timeout=20)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")  # confirm
        assert await asyncio.wait_for(run, 20) == ExitCode.STOPPED
        await until(pilot, lambda: app.model.phase is Phase.STOPPED, timeout=10)
        await pilot.press("d")
