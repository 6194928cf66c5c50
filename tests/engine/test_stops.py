"""Stops are stops: a stop requested during a repair cancels it at once (the model call, the
shadow test), and the cancellation kills what they started."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil
import pytest
from engine_support import PY, Recorder
from fakes.processes import alive
from waiting import until

from phoenix_engine.core.classify import Classified
from phoenix_engine.core.proposal import FileChange
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.io import shadow
from phoenix_engine.io.state_store import Ledger

pytestmark = pytest.mark.timeout(30)

Make = Callable[..., Settings]


class SlowRepair:
    """A repair that never ends by itself (a model that takes its 180 s)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def repair(
        self, failure: Classified, tail: Sequence[str], ledger: Ledger, *, extra: str = ""
    ) -> str:
        self.started.set()
        try:
            await asyncio.sleep(300)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return "never"


def test_a_stop_during_a_repair_cancels_it_at_once(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("raise SystemExit(3)\n", patch_mode="auto")
    repair = SlowRepair()
    engine = Engine(s, env=os.environ, sinks=[recorder], repairer=repair)

    async def scenario() -> tuple[ExitCode, float]:
        task = asyncio.ensure_future(engine.run())
        await asyncio.wait_for(repair.started.wait(), 10)
        asked = time.monotonic()
        engine.request_stop("phoenix received SIGTERM")
        code = await asyncio.wait_for(task, 10)
        return code, time.monotonic() - asked

    code, took = asyncio.run(scenario())
    assert code == ExitCode.STOPPED
    assert repair.cancelled
    assert took < 3
    assert recorder.names()[-1] == "stopped"
    assert "restarting" not in recorder.names()


def test_a_cancelled_shadow_run_kills_the_test_and_removes_its_copy(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text("x = 1\n")
    marker = tmp_path / "test-started"
    test = f"{PY} -c \"open({str(marker)!r}, 'w').close(); import time; time.sleep(300)\""
    change = FileChange(path="train.py", before=b"x = 1\n", after=b"x = 2\n", mode=None)
    tmp_root = tmp_path / "tmp"
    tmp_root.mkdir()

    async def scenario() -> None:
        run = asyncio.ensure_future(
            shadow.validate(
                project,
                [change],
                test_cmd=test,
                timeout_s=300,
                allowlist=["*.py"],
                data_dir="data",
                tmp_root=tmp_root,
            )
        )
        await until(marker.exists, 10, what="the shadow test to start")
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(run, 10)

    asyncio.run(scenario())
    assert list(tmp_root.iterdir()) == []
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if str(marker) in str(p.info)]
    assert [p for p in left if alive(p)] == []
