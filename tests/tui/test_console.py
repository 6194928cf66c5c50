"""The engine's lifetime is the console's: a signal or a crash of the UI stops it gracefully."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from tui_support import make_app
from waiting import until

from phoenix_engine.errors import ExitCode, LockHeldError
from phoenix_tui.console.run import _console


async def test_a_crash_of_the_ui_stops_the_training_before_phoenix_exits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app, engine = make_app(tmp_path)
    engine.stop_takes_s = 0.2

    def boom() -> None:
        raise RuntimeError("a bug in a pane")

    async def crash_once_running() -> None:
        await until(lambda: engine.started, 10, what="the engine to start")
        app.call_later(boom)

    crasher = asyncio.ensure_future(crash_once_running())
    code = await asyncio.wait_for(_console(app, {}, headless=True), 20)
    await crasher
    assert code == ExitCode.STOPPED
    assert engine.stop_requests == [("the console closed", False)]
    assert app.engine_task is not None and app.engine_task.done()
    assert "the console closed; stopping the training" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
async def test_a_signal_quits_without_asking_and_stops_the_training(
    tmp_path: Path, signum: signal.Signals
) -> None:
    app, engine = make_app(tmp_path)

    async def signal_once_running() -> None:
        await until(lambda: engine.started, 10, what="the engine to start")
        os.kill(os.getpid(), signum)

    sender = asyncio.ensure_future(signal_once_running())
    code = await asyncio.wait_for(_console(app, {}, headless=True), 20)
    await sender
    assert code == ExitCode.STOPPED
    name = signal.Signals(signum).name
    assert engine.stop_requests == [(f"phoenix received {name}", False)]


async def test_an_engine_that_cannot_start_raises_its_error_after_the_ui_closed(
    tmp_path: Path,
) -> None:
    app, engine = make_app(tmp_path)

    async def locked() -> ExitCode:
        raise LockHeldError("another phoenix (pid 7) supervises this project")

    engine.run = locked  # type: ignore[method-assign]
    with pytest.raises(LockHeldError, match="pid 7"):
        await asyncio.wait_for(_console(app, {}, headless=True), 20)
