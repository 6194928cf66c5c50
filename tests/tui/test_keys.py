"""Every key path of the console, driven with Pilot against a scripted engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_support import ScriptedEngine, make_app, proposal, until

from phoenix_engine import events as ev
from phoenix_engine.core.proposal import FileChange
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.backups import BackupState, apply_changes, create_backup, list_backups
from phoenix_tui.console.app import PhoenixApp
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.patches import BackupList, DetailPane, PatchList
from phoenix_tui.console.screens import ConfirmScreen, HelpScreen
from phoenix_tui.console.view_model import PatchState, Phase


def detail_text(app: PhoenixApp) -> str:
    detail = app.query_one(DetailPane)
    parts = [str(static.render()) for static in detail.query("Static")]
    return "\n".join(parts)


async def waiting(
    app: PhoenixApp, engine: ScriptedEngine, pilot: object
) -> asyncio.Task[ev.Decision]:
    """Start a repair that waits for the operator; return it once the console shows it."""
    task = asyncio.ensure_future(engine.repair(proposal()))
    await until(pilot, lambda: bool(app.approver.pending))
    app.flush()
    await until(pilot, lambda: app.model.phase is Phase.AWAITING)
    return task


@pytest.mark.parametrize("focus", ["#log", "#patches", "#detail", "#backups"])
async def test_a_accepts_the_waiting_patch_from_any_pane(tmp_path: Path, focus: str) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        task = await waiting(app, engine, pilot)
        # selected and shown at once, without navigating
        assert app.query_one(PatchList).selected_id == "de6e9b62acff"
        assert "+    return 0.5 * learning_rate" in detail_text(app)
        assert app.screen.has_class("-awaiting")
        app.query_one(focus).focus()
        await pilot.press("a")
        decision = await asyncio.wait_for(task, 5)
        assert decision.approved and decision.by == "console"
        app.flush()
        assert app.model.patches["de6e9b62acff"].state is PatchState.APPLIED
        assert "approved by console" in detail_text(app)
        assert not app.screen.has_class("-awaiting")


async def test_r_rejects_the_waiting_patch(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        task = await waiting(app, engine, pilot)
        await pilot.press("r")
        decision = await asyncio.wait_for(task, 5)
        assert not decision.approved and "rejected by the operator" in decision.reason
        app.flush()
        entry = app.model.patches["de6e9b62acff"]
        assert entry.state is PatchState.REJECTED and "operator" in entry.reason
        await pilot.press("a")  # nothing waits any more: a warning, no answer
        await pilot.pause()
        assert any("only a patch awaiting approval" in n.message for n in app._notifications)


async def test_approval_timeout_approves_when_nobody_answers(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path, approval="timeout:1.5")
    async with app.run_test(size=(120, 40)) as pilot:
        task = asyncio.ensure_future(engine.repair(proposal()))
        await until(pilot, lambda: bool(app.approver.pending))
        app.flush()
        assert "auto-approves in 0:01" in detail_text(app)  # the console's clock is frozen
        decision = await asyncio.wait_for(task, 5)
        assert decision.approved and decision.by == "timeout"
        app.flush()
        assert app.model.patches["de6e9b62acff"].state is PatchState.APPLIED


async def test_auto_approval_never_waits(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path, approval="auto")
    async with app.run_test(size=(120, 40)):
        decision = await asyncio.wait_for(engine.repair(proposal()), 5)
        assert decision.approved and decision.by == "auto"


async def test_s_asks_then_stops_gracefully_and_the_console_stays(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert engine.stop_requests == [] and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: app.engine_task is not None and app.engine_task.done())
        assert engine.stop_requests == [("stopped by the operator from the console", False)]
        app.flush()
        assert app.model.phase is Phase.STOPPED and app.is_running
        assert app.exit_code_now() == ExitCode.STOPPED


async def test_q_while_training_asks_stops_waits_and_exits(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    engine.stop_gate = gate = asyncio.Event()  # the training takes its time to stop
    async with app.run_test(size=(120, 40)) as pilot:
        task = await waiting(app, engine, pilot)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        decision = await asyncio.wait_for(task, 5)
        assert not decision.approved  # a stop answers a waiting patch "no"
        await pilot.pause()
        assert app.is_running and app.model.phase is Phase.STOPPING  # waits for the engine
        assert engine.stop_requests == [("the operator quit the console", False)]
        gate.set()
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == ExitCode.STOPPED


async def test_q_twice_kills_at_once(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    engine.stop_takes_s = 30
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        await pilot.press("q", "y")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert engine.stop_requests[-1] == ("the operator quit the console", True)


async def test_q_after_the_run_ended_exits_at_once_with_its_code(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        engine.finish(ExitCode.COMPLETED, ev.RunCompleted(duration_s=5, restarts=0))
        await until(pilot, lambda: app.model.phase is Phase.COMPLETED or not app.is_running)
        app.flush()
        assert app.model.phase is Phase.COMPLETED and app.is_running  # stays to be read
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0 and engine.stop_requests == []


def _backed_up(project: Path) -> str:
    (project / "train.py").write_bytes(b"batch_size = 64\n")
    change = FileChange(
        path="train.py", before=b"batch_size = 64\n", after=b"batch_size = 32\n", mode=None
    )
    state = project / ".phoenix_cli"
    record = create_backup(
        state,
        project,
        [change],
        proposal_id="3462ac0fbe3b",
        provider="builtin",
        signature="ebb05926",
        diagnosis="halve the batch",
    )
    apply_changes(project, [change], record, dry_run=False)
    return record.id


async def test_R_rolls_back_the_selected_backup_after_asking(tmp_path: Path) -> None:
    backup_id = _backed_up(tmp_path)
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        backups = app.query_one(BackupList)
        await until(pilot, lambda: backups.selected_id == backup_id)  # listed in a thread
        backups.focus()
        await until(pilot, lambda: "-batch_size = 64" in detail_text(app))  # diffed in one
        assert "+batch_size = 32" in detail_text(app)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert (tmp_path / "train.py").read_bytes() == b"batch_size = 32\n"
        await pilot.press("R")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: any(isinstance(e, ev.RolledBack) for e in engine.emitted))
        assert (tmp_path / "train.py").read_bytes() == b"batch_size = 64\n"
        rolled = [e for e in engine.emitted if isinstance(e, ev.RolledBack)]
        assert [(e.backup_id, e.paths) for e in rolled] == [(backup_id, ("train.py",))]
        states = {r.id: r.state for r in list_backups(tmp_path / ".phoenix_cli")}
        assert states[backup_id] is BackupState.ROLLED_BACK and rolled[0].safety_backup_id in states
        await until(pilot, lambda: "rolled back" in str(backups.get_option(backup_id).prompt))
        await pilot.press("R")  # already rolled back: a warning, nothing asked
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)


async def test_tab_and_shift_tab_move_between_the_panes(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        order = []
        for _ in range(4):
            order.append(app.focused.id if app.focused else None)
            await pilot.press("tab")
        assert order == ["log", "patches", "backups", "detail"]
        assert app.focused is not None and app.focused.id == "log"
        await pilot.press("shift+tab")
        assert app.focused is not None and app.focused.id == "detail"


async def test_slash_searches_the_log_and_escape_closes(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        engine.emit(ev.OutputLines(stream="stdout", lines=("loss nan at step 7", *["ok"] * 80)))
        app.flush()
        await pilot.press("slash")
        await pilot.pause()
        search = app.query_one("#search", Input)
        assert search.has_focus
        await pilot.press("N", "a", "N", "enter")
        await pilot.pause()
        log = app.query_one(LogView)
        assert log.match is not None and log.lines[log.match].startswith("loss nan")
        assert not log.follow
        await pilot.press("escape")
        await pilot.pause()
        assert log.has_focus and log.match is None and not search.display


async def test_f_toggles_follow_and_the_log_says_which(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        log, box = app.query_one(LogView), app.query_one("#log-box")
        assert log.follow and box.border_subtitle == "following"
        await pilot.press("f")
        assert not log.follow and box.border_subtitle == "paused · f to follow"
        await pilot.press("f")
        assert log.follow and box.border_subtitle == "following"


async def test_question_mark_shows_the_keys(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_every_action_is_in_the_command_palette_and_the_footer(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        wanted = {"Accept patch", "Reject patch", "Stop training", "Roll back", "Search log"}
        assert wanted | {"Follow log", "Next pane", "Help", "Quit", "Theme"} <= set(commands)
        await until(pilot, lambda: engine.started)
        # The footer follows the run: a healthy run has nothing to accept or roll back.
        shown = {b.key for _, b, enabled, _ in app.screen.active_bindings.values() if b.show}
        assert {"s", "slash", "question_mark", "q"} <= shown
        assert not {"a", "r", "R", "u"} & shown
        commands["Stop training"].callback()  # what choosing it in the palette does
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
