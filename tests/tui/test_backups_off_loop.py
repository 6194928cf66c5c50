"""The console's file work runs off its loop: keys and frames go on during a rollback, a
rollback waits for the engine's apply (one writer at a time), and one that the closing
console leaves running is journaled all the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_keys import _backed_up, detail_text
from textual.worker import WorkerState
from tui_support import make_app, until

from phoenix_engine import events as ev
from phoenix_engine.io._backup_store import ONE_WRITER
from phoenix_tui.console.panes.patches import BackupList
from phoenix_tui.console.screens import HelpScreen


class _Seen:
    """A sink that says when a rollback reached the engine."""

    def __init__(self) -> None:
        self.rolled_back = asyncio.Event()

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.RolledBack):
            self.rolled_back.set()


async def test_keys_work_while_a_rollback_waits_for_the_engines_apply(tmp_path: Path) -> None:
    backup_id = _backed_up(tmp_path)
    train = tmp_path / "train.py"
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app._can_roll_back)
        with ONE_WRITER:  # as while the engine applies a patch
            worker = app.roll_back(backup_id)
            await pilot.press("question_mark")  # the loop is free: keys are answered
            await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            assert worker.state is WorkerState.RUNNING
            assert train.read_bytes() == b"batch_size = 32\n"  # nothing written meanwhile
            await pilot.press("escape")
            await pilot.press("R")  # a second rollback is refused while one runs
            await pilot.pause()
            assert "is being restored" in "\n".join(n.message for n in app._notifications)
        await worker.wait()
        assert train.read_bytes() == b"batch_size = 64\n"
        assert [e.backup_id for e in engine.emitted if isinstance(e, ev.RolledBack)] == [backup_id]


async def test_the_diff_of_a_backup_follows_the_selection(tmp_path: Path) -> None:
    _backed_up(tmp_path)
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        backups_pane = app.query_one(BackupList)
        await until(pilot, lambda: backups_pane.option_count == 1)
        backups_pane.focus()
        await until(pilot, lambda: "+batch_size = 32" in detail_text(app))
        (tmp_path / "train.py").write_bytes(b"batch_size = 16\n")
        app._show_detail()  # as each frame with events does
        await until(pilot, lambda: "+batch_size = 16" in detail_text(app))
        assert "changed since" in detail_text(app)


async def test_a_rollback_the_closing_console_leaves_running_is_journaled(tmp_path: Path) -> None:
    backup_id = _backed_up(tmp_path)
    app, engine = make_app(tmp_path)
    seen = _Seen()
    engine.add_sink(seen)
    with ONE_WRITER:  # the rollback's thread waits until the console is gone
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, app._can_roll_back)
            worker = app.roll_back(backup_id)
            await pilot.pause()
            app.exit()
        assert worker.state is WorkerState.CANCELLED
        assert not seen.rolled_back.is_set()
    await asyncio.wait_for(seen.rolled_back.wait(), 10)
    assert (tmp_path / "train.py").read_bytes() == b"batch_size = 64\n"
