"""After a guard trips, every surface says so: ``phoenix status`` (the attach socket's status),
Discord's ``!status`` and the console's status bar. They all read the one reducer
(:mod:`phoenix_engine.core.run_state`); before it, the first two said "running"."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.core.run_state import Phase, RunView
from phoenix_engine.remote.attach_client import query_status
from phoenix_engine.remote.attach_server import AttachServer
from phoenix_engine.remote.commands import dispatch, parse_command
from phoenix_engine.remote.controller import EngineController
from phoenix_tui.console._notes import status_note
from phoenix_tui.console.panes.status import status_text
from phoenix_tui.console.view_model import RunModel

START = ev.RunStarted(command="python t.py", project="/p", mode="auto", phoenix_pid=1, ts=100.0)
PROC = ev.ProcessStarted(pid=10, command="python t.py", attempt=1)
HOT = ev.GuardTripped(guard="gpu_temp", reading=92.0, limit=90.0, detail="GPU 0 at 92 C")
EXITED = ev.ProcessExited(pid=10, returncode=None, signal=15, duration_s=30.0)
TRIPPED = (START, PROC, HOT, EXITED)


def _view() -> RunView:
    view = RunView(max_attempts=3, max_restarts=20)
    for event in TRIPPED:
        view.apply(event)
    return view


def test_phoenix_status_says_guard_tripped() -> None:
    view = _view()
    with tempfile.TemporaryDirectory(prefix="phx") as state:  # short: an AF_UNIX path
        server = AttachServer(
            state_dir=Path(state),
            emit=lambda e: None,
            request_stop=lambda r: None,
            desk=None,
            view=view,
        )

        async def scenario() -> str:
            serving = asyncio.create_task(server.run())
            try:
                # the socket appears once the server listens
                await until(server.path.exists, 4, what="the attach socket")
                return await query_status(server.path)
            finally:
                await server.aclose()
                serving.cancel()

        text = asyncio.run(scenario())
    assert text.splitlines()[0] == "phase: guard tripped"
    assert "guard gpu_temp: 92 over 90" in text


def test_discord_status_says_guard_tripped() -> None:
    engine: Any = SimpleNamespace(request_stop=lambda reason, force=False: None)
    controller = EngineController(engine=engine, view=_view(), clock=lambda: 160.0)
    command = parse_command("!status")
    assert command is not None
    reply = dispatch(controller, command, by="42").text
    assert reply.splitlines()[0] == "phase: guard tripped"
    assert reply.splitlines()[-1] == "up 1m00s"


def test_the_console_says_guard_tripped_and_agrees_with_the_reducer() -> None:
    model = RunModel(max_retries=3, max_restarts=20, provider="builtin")
    for event in TRIPPED:
        model.apply(event)
    assert model.phase is Phase.GUARDED is _view().phase
    line = status_text(model, uptime=60.0, project="p", note=status_note(model)).plain
    assert "guard tripped" in line and "gpu_temp 92 > 90" in line
    cleared = ev.GuardCleared(guard="gpu_temp", reading=80.0, limit=90.0)
    model.apply(cleared)
    assert model.phase is Phase.RESTARTING
