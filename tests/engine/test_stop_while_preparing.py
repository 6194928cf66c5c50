"""A stop while Phoenix prepares the run (hashing a large data set) ends it at once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from engine_support import Recorder
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode

Make = Callable[..., Settings]
SIZE = 4 << 30  # sparse: no disk, but seconds of hashing


def test_a_stop_during_the_data_hash_cancels_it(make_settings: Make, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data" / "shard-0.bin", "wb") as fh:
        fh.truncate(SIZE)
    s = make_settings("print('trained')\n", data_verify="warn")
    recorder = Recorder()
    engine = Engine(s, env=os.environ, sinks=[recorder])

    def hashing() -> bool:
        return any(isinstance(e, ev.Notice) and "hashing" in e.message for e in recorder.events)

    async def scenario() -> ExitCode:
        task = asyncio.create_task(engine.run())
        await until(hashing, 30, what="the hash of data/ under way")
        engine.request_stop("operator pressed s")
        return await asyncio.wait_for(task, 30)

    assert asyncio.run(scenario()) == ExitCode.STOPPED
    assert recorder.of(ev.ProcessStarted) == []  # nothing started
    assert recorder.of(ev.Stopped)[0].reason == "operator pressed s"
    # The hash was cut short: a finished one records the manifest (warn, first run), and
    # asyncio.run waits for its thread, so a hash that ran on would have written it by now.
    assert not (s.state_dir / "data_manifest.json").exists()


def test_a_stop_that_stays_lets_the_hash_finish_and_holds(
    make_settings: Make, tmp_path: Path
) -> None:
    """A remote !stop with hold_after_end (PAUSING) is no reason to throw the hash away: it
    finishes, nothing starts, Phoenix holds, and a resume starts the training."""
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data" / "shard-0.bin", "wb") as fh:
        fh.truncate(1100 << 20)  # just over the 1 GB that makes the hash say how far it got
    s = make_settings("print('trained')\n", data_verify="warn")
    recorder = Recorder()
    engine = Engine(s, env=os.environ, sinks=[recorder], hold_after_end=True)

    def hashing() -> bool:
        return any(isinstance(e, ev.Notice) and "hashing" in e.message for e in recorder.events)

    async def scenario() -> ExitCode:
        task = asyncio.create_task(engine.run())
        await until(hashing, 30, what="the hash of data/ under way")
        engine.request_stop("!stop from discord:42", leave=False)
        await until(lambda: engine.holding, 60, what="holding")
        assert recorder.of(ev.ProcessStarted) == []
        assert (s.state_dir / "data_manifest.json").exists()  # the hash finished
        assert engine.resume(by="discord:42")
        return await asyncio.wait_for(task, 30)

    assert asyncio.run(scenario()) == ExitCode.COMPLETED
    assert len(recorder.of(ev.ProcessStarted)) == 1
