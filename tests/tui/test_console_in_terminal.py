"""The console as a user met it in a real terminal (80x24 to 200x60): dialogs, keys that
follow the run, wrap, search, telemetry, stop and resume, and the attached console."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Button, Footer, HelpPanel
from tui_support import TS, make_app, proposal, until

from phoenix_engine import events as ev
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.gpu import SimulatedGpu
from phoenix_tui.console.app import PhoenixApp
from phoenix_tui.console.attached import AttachedApp
from phoenix_tui.console.panes.gpu import GpuPane, gauge_lines, spark
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.patches import DetailPane, PatchList
from phoenix_tui.console.panes.status import StatusBar
from phoenix_tui.console.run import terminal_warning
from phoenix_tui.console.screens import ConfirmScreen, HelpScreen
from phoenix_tui.console.view_model import Phase


def text_of(widget: Any) -> str:
    return str(widget.render())


def detail_text(app: PhoenixApp) -> str:
    return "\n".join(str(s.render()) for s in app.query_one(DetailPane).query("Static"))


def shown_keys(app: PhoenixApp) -> set[str]:
    return {b.key for _, b, enabled, _ in app.screen.active_bindings.values() if b.show}


def notes(app: PhoenixApp) -> str:
    return "\n".join(n.message for n in app._notifications)


async def _backup(tmp_path: Path) -> None:
    from test_keys import _backed_up

    _backed_up(tmp_path)


# --- confirmation dialogs ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["q", "s", "R"])
async def test_confirmations_show_their_whole_explanation_and_key_hints(
    tmp_path: Path, key: str
) -> None:
    if key == "R":
        await _backup(tmp_path)
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: engine.started)
        await until(pilot, lambda: key != "R" or app._can_roll_back())  # listed in a thread
        await pilot.press(key)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        explain = screen.query_one("#explain")
        # the whole text: wrapped on as many rows as it needs, as wide as the dialog
        assert explain.region.width >= 60
        rows = math.ceil(len(screen.detail) / explain.region.width)
        assert explain.region.height >= rows >= 2
        labels = [str(b.label) for b in screen.query(Button)]
        assert any(label.endswith("[y]") for label in labels)
        assert "Cancel [n]" in labels


# --- the keys follow the run --------------------------------------------------------------------


async def test_footer_shows_only_the_keys_that_apply_now(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        app.flush()
        await pilot.pause()
        assert {"s", "q"} <= shown_keys(app) and not {"a", "r", "u", "R"} & shown_keys(app)
        task = asyncio.ensure_future(engine.repair(proposal()))
        await until(pilot, lambda: bool(app.approver.pending))
        app.flush()
        await pilot.pause()
        assert {"a", "r"} <= shown_keys(app)
        await pilot.press("a")
        await asyncio.wait_for(task, 5)
        app.flush()
        await pilot.pause()
        assert not {"a", "r"} & shown_keys(app)


async def test_a_key_that_does_not_apply_says_why(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        await pilot.press("u")
        await pilot.pause()
        assert "nothing to resume" in notes(app)


async def test_ctrl_c_names_phoenixs_quit_key(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert "Press q to quit" in notes(app) and "ctrl+q" not in notes(app)
        assert app.is_running


async def test_the_palettes_keys_panel_closes_with_escape(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_show_help_panel()
        await pilot.pause()
        assert app.screen.query(HelpPanel)
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query(HelpPanel)


# --- the status bar and the detail pane ----------------------------------------------------------


async def test_up_is_the_runs_age_and_stops_when_it_ends(tmp_path: Path) -> None:
    now = [TS + 3600.0]  # a console opened an hour into the run (attach)
    app, engine = make_app(tmp_path, wall=lambda: now[0], app_class=AttachedApp)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        app.flush()
        assert "up 1h00m" in text_of(app.query_one(StatusBar))
        engine.finish(
            ExitCode.COMPLETED, ev.RunCompleted(ts=TS + 7200.0, duration_s=7200.0, restarts=0)
        )
        await until(pilot, lambda: app.model.phase is Phase.COMPLETED)
        now[0] = TS + 9000.0
        app._show_status()
        assert "up 2h00m" in text_of(app.query_one(StatusBar))


async def test_the_give_up_reason_is_in_the_status_bar_and_the_detail(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    reason = "3 attempts for this failure spent (PHOENIX_MAX_RETRIES=3)"
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        engine.emit(ev.Failure(kind="exception", signature="sig", summary="NameError"))
        engine.emit(ev.GaveUp(reason=reason))
        app.flush()
        await pilot.pause()
        assert reason in text_of(app.query_one(StatusBar))
        assert f"gave up: {reason}" in detail_text(app)


async def test_no_attempt_count_on_a_healthy_run(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        app.flush()
        status = text_of(app.query_one(StatusBar))
        assert "● running" in status and "attempt" not in status and "try" not in status


async def test_patch_rows_say_what_the_fix_does(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        task = asyncio.ensure_future(engine.repair(proposal()))
        await until(pilot, lambda: bool(app.approver.pending))
        app.flush()
        row = app.query_one(PatchList).get_option_at_index(0).prompt
        plain = row.plain if isinstance(row, Text) else str(row)
        assert "de6e9b62 lerning_rate → learning_rate · exception train.py:27" in plain
        assert "sig " not in plain
        assert "exception fix: lerning_rate → learning_rate (train.py:27)" in detail_text(app)
        await pilot.press("r")
        await asyncio.wait_for(task, 5)


# --- the log ------------------------------------------------------------------------------------


async def test_long_lines_wrap_and_w_cuts_them_again(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    long = "RuntimeError: " + " ".join(f"word{i}" for i in range(60))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        engine.emit(ev.OutputLines(stream="stderr", lines=("short", long)))
        app.flush()
        await pilot.pause()
        log = app.query_one(LogView)
        width = log.scrollable_content_region.width
        assert log.wrap and log.virtual_size.height > len(log.lines) + 1
        rows = ["".join(s.text for s in log.render_line(y)) for y in range(log.size.height)]
        assert all(len(row) <= width for row in rows)
        assert long.replace(" ", "") in "".join(rows).replace(" ", "")  # all of it, in order
        assert log.virtual_size.width <= width
        assert log.styles.scrollbar_size_horizontal == 0  # no bar that looks like progress
        await pilot.press("w")
        await pilot.pause()
        assert not log.wrap and log.virtual_size.height <= len(log.lines) + 1
        assert "no wrap" in str(app.query_one("#log-box").border_subtitle)


async def test_search_counts_matches_and_n_moves_between_them(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        lines = [f"step {i} loss {'nan' if i % 10 == 0 else 0.5}" for i in range(1, 40)]
        engine.emit(ev.OutputLines(stream="stdout", lines=tuple(lines)))
        app.flush()
        await pilot.press("slash", *"nan", "enter")
        await pilot.pause()
        log, box = app.query_one(LogView), app.query_one("#log-box")
        assert log.lines[log.match or 0] == "step 30 loss nan"
        assert str(box.border_subtitle).startswith("3/3 matches")
        log.focus()
        await pilot.press("n")
        assert log.lines[log.match or 0] == "step 20 loss nan"
        assert str(box.border_subtitle).startswith("2/3 matches")
        await pilot.press("N")
        assert str(box.border_subtitle).startswith("3/3 matches")


async def test_a_search_past_the_buffer_offers_train_log(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path, PHOENIX_LOG_LINES="100")
    state = tmp_path / ".phoenix_cli"
    state.mkdir(exist_ok=True)
    lines = [f"step {i} loss {'nan' if i == 7 else 0.5}" for i in range(1, 400)]
    (state / "train.log").write_text("\n".join(lines) + "\n")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        engine.emit(ev.OutputLines(stream="stdout", lines=tuple(lines)))
        app.flush()
        log = app.query_one(LogView)
        assert log.dropped >= 299  # (and the milestones phoenix wrote)
        await pilot.press("slash", *"loss nan", "enter")
        await pilot.pause()
        assert log.match is None
        assert f"{log.dropped} older lines left it" in notes(app) and "train.log" in notes(app)
        await pilot.press("enter")  # yes: search the file
        await until(pilot, lambda: "train.log: 1 lines match" in detail_text(app))
        assert "       7  step 7 loss nan" in detail_text(app)
        engine.emit(ev.Notice(message="the run goes on"))
        app.flush()  # a new event does not replace the matches
        assert "       7  step 7 loss nan" in detail_text(app)


# --- telemetry ----------------------------------------------------------------------------------

BUSY = ev.GpuReading(
    index=0,
    name="NVIDIA A100",
    temp_c=70.0,
    mem_used_mb=30_000,
    mem_total_mb=40_960,
    power_w=300,
    power_limit_w=400,
    util_pct=99,
    processes=(
        ev.GpuProcess(pid=4243, gpu_index=0, used_mb=20_480, ours=True, kind="compute"),
        ev.GpuProcess(pid=999, gpu_index=0, used_mb=3_174, ours=False, kind="compute"),
    ),
)


def test_sparklines_skip_nan_and_scale_to_the_limit() -> None:
    assert spark([0.0, 50.0, math.nan, 100.0, math.inf], 100.0, 10) == "▁▅█"
    assert spark([math.nan], 100.0, 10) == "" and spark([], 100.0, 10) == ""


def test_full_utilisation_is_not_an_alarm_and_processes_are_named() -> None:
    lines = gauge_lines(BUSY, max_temp=90, width=44)
    util = lines[4]
    assert util.plain.endswith("99%")
    assert not any("red" in str(span.style) or "yellow" in str(span.style) for span in util.spans)
    assert lines[5].plain.startswith("procs ours 4243 20.0G · other 999 3.1G")


async def test_telemetry_keeps_a_history_and_shows_the_host(tmp_path: Path) -> None:
    base, engine = make_app(tmp_path)
    app = PhoenixApp(
        engine=engine,
        approver=base.approver,
        settings=dataclasses.replace(base.settings, gpu_interval_sec=1.0),
        project_name="p",
    )
    async with app.run_test(size=(120, 40)) as pilot:
        for temp in (60.0, math.nan, 80.0):
            reading = dataclasses.replace(BUSY, temp_c=temp)
            engine.emit(ev.GpuStatus(source="nvml", gpus=(reading,)))
            app.flush()
        assert app.gpu.series(0, "temp_c") == [60.0, 80.0]  # NaN never kept
        engine.emit(
            ev.HostStatus(
                cpu_pct=12.0, ram_used_gb=5.1, ram_total_gb=15.6, disk_path="/p", disk_free_gb=120.0
            )
        )  # the engine's own host sample: the console does not sample a second time
        app.flush()
        await until(pilot, lambda: app.gpu.host is not None, timeout=5)
        await pilot.pause()
        shown = text_of(app.query_one(GpuPane))
        assert "host  cpu 12% · ram 5.1/16G\ndisk  120G free" in shown
        assert "procs ours 4243" in shown


def test_the_demo_card_idles_when_nothing_runs() -> None:
    pids: set[int] = set()
    card = SimulatedGpu(clock=lambda: 0.0, pids=lambda: pids)
    idle = card.sample().gpus[0]
    assert idle.util_pct == 0 and (idle.power_w or 0) < 50 and not idle.processes
    pids.update({4243, 4250})
    working = card.sample().gpus[0]
    assert (working.util_pct or 0) >= 70 and (working.power_w or 0) > 200
    assert [(p.pid, p.ours) for p in working.processes] == [(4243, True)]


# --- big terminals --------------------------------------------------------------------------------


async def test_the_side_column_grows_with_the_width_and_z_zooms(tmp_path: Path) -> None:
    widths = {}
    for size in ((80, 24), (120, 40), (200, 60)):
        app, _ = make_app(tmp_path)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            widths[size[0]] = app.query_one("#side").region.width
            if size[0] == 200:
                log_box = app.query_one("#log-box")
                await pilot.press("z")
                await pilot.pause()
                assert app.screen.maximized is log_box and log_box.region.width == 200
                await pilot.press("z")
                await pilot.pause()
                assert app.screen.maximized is None
    assert widths[80] < widths[120] < widths[200]


# --- stop and resume ------------------------------------------------------------------------------


async def test_stopping_shows_the_escalation_and_q_kills(tmp_path: Path) -> None:
    now = [0.0]
    app, engine = make_app(tmp_path, clock=lambda: now[0], PHOENIX_KILL_GRACE_SEC="10")
    engine.stop_gate = asyncio.Event()  # the training takes its time
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        await pilot.press("s", "y")
        await pilot.pause()
        status = text_of(app.query_one(StatusBar))
        assert "stopping" in status and "SIGINT sent · SIGTERM in 10s · q kills now" in status
        now[0] = 12.0
        app._show_status()
        assert "SIGKILL in 8s" in text_of(app.query_one(StatusBar))
        assert "s" not in shown_keys(app)
        await pilot.press("q")  # no question while it stops: kill
        await pilot.pause()
        assert engine.stop_requests[-1] == ("the operator quit the console", True)
        engine.stop_gate.set()
        await until(pilot, lambda: not app.is_running)


async def test_a_stopped_training_resumes_with_u(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path, hold=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        await pilot.press("s", "y")
        await until(pilot, lambda: engine.holding)
        app.flush()
        await pilot.pause()
        assert engine.leaves == [False]  # the engine stays, waiting
        assert app.model.phase is Phase.STOPPED and "u resumes" in text_of(app.query_one(StatusBar))
        assert "u" in shown_keys(app) and "s" not in shown_keys(app)
        await pilot.press("u")
        await until(pilot, lambda: not engine.holding)
        app.flush()
        await until(pilot, lambda: app.model.phase is Phase.RUNNING)
        assert engine.resumed_by == "operator (console)"
        await pilot.press("q", "y")  # running again: quitting asks, then stops and leaves
        await until(pilot, lambda: not app.is_running)
    assert engine.leaves[-1] is True


async def test_quitting_a_held_run_leaves_without_asking(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path, hold=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        await pilot.press("s", "y")
        await until(pilot, lambda: engine.holding)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == int(ExitCode.STOPPED)


# --- the attached console -------------------------------------------------------------------------


async def test_attached_help_footer_and_palette_say_q_detaches(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path, app_class=AttachedApp)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: engine.started)
        app.flush()
        await pilot.pause()
        footer_keys = {key.key_display: key for key in app.query_one(Footer).query("FooterKey")}
        detach = footer_keys.get("q/d")
        assert detach is not None and detach.description == "Detach"
        assert detach.region.right <= 80 and detach.region.width > 0  # on screen at 80 columns
        assert not any(k.description == "Quit" for k in footer_keys.values())
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert "Quit" not in titles and "the training goes on" in titles["Detach"]
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert "detach" in notes(app) and "Press q to quit" not in notes(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.keys)
        assert keys["q"].startswith("detach") and keys["d"].startswith("detach")
        assert "stops it gracefully" not in keys["q"] and "u" not in keys
        await pilot.press("escape", "u")
        await pilot.pause()
        assert "cannot resume" in notes(app)


# --- the terminal and teardown ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "warns"),
    [({}, True), ({"TMUX": "/tmp/tmux-0/default,1,0"}, False), ({"STY": "123.pts-0"}, False)],
)
def test_a_bare_terminal_is_warned_about(env: dict[str, str], warns: bool) -> None:
    warning = terminal_warning(env)
    assert (warning is not None) is warns
    if warning:
        assert "--unattended" in warning and "phoenix attach" in warning


async def test_startup_notes_are_shown(tmp_path: Path) -> None:
    base, engine = make_app(tmp_path)
    app = PhoenixApp(
        engine=engine,
        approver=base.approver,
        settings=base.settings,
        project_name="p",
        notes=[terminal_warning({}) or ""],
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "closing this terminal" in notes(app)


async def test_a_frame_during_teardown_never_raises(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path, approval="auto")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        detail = app.query_one(DetailPane)
        await detail.remove_children()  # what Textual does to the panes while it exits
        engine.emit(proposal())
        app.flush()  # used to raise NoMatches from DetailPane.show
        engine.emit(proposal("0123456789ab"))
        app.exit()
        app.flush()  # exiting: nothing is touched


async def test_a_flood_gives_the_log_a_frame_four_times_a_second(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        log = app.query_one(LogView)
        engine.emit(ev.OutputLines(stream="stdout", lines=("x",) * 2000))
        await until(pilot, lambda: log.lines[-1:] == ["x"])
        engine.emit(ev.OutputLines(stream="stdout", lines=("y",) * 2000))
        engine.emit(ev.Notice(message="a milestone comes with the next frame"))
        app.flush()  # a frame right after one that drew a flood: the lines wait, bounded
        assert log.lines[-1] == "x" and app.sink.pending_lines > 2000
        await until(pilot, lambda: log.lines[-1].endswith("a milestone comes with the next frame"))
        assert log.lines.count("y") == 2000
