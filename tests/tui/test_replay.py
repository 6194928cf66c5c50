"""``phoenix review``: the recorded output placed between the milestones, each run's part of a
rotated train.log, and the console on a real recorded demo night (read-only, rollback works)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_support import until

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.history import PastRun, split_runs
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import resolve
from phoenix_engine.engine import Engine
from phoenix_engine.io.gpu import SimulatedGpu
from phoenix_engine.io.journal import JournalSink
from phoenix_engine.io.metrics_log import MetricsLog
from phoenix_engine.io.recorded import Recorded, TrainPoint, load_runs, read_metrics
from phoenix_engine.services import add_services
from phoenix_tui.console.app import PhoenixApp
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.replay import replay_events, review_app, run_slice
from phoenix_tui.console.view_model import PatchState, Phase
from phoenix_tui.demo import prepare_demo

T0 = 1_790_000_000.0


def started(ts: float, run_id: str) -> ev.RunStarted:
    return ev.RunStarted(
        ts=ts, command="c", project="/p", mode="auto", phoenix_pid=1, run_id=run_id
    )


def test_milestones_land_where_the_output_was_when_they_happened() -> None:
    fail = ev.Failure(ts=T0 + 5, kind="exception", signature="s", summary="boom")
    done = ev.RunCompleted(ts=T0 + 9, duration_s=9, restarts=1)
    (run,) = split_runs([started(T0, "r"), fail, done])
    output = b"step 1\nTraceback\nstep 2\nlast words"
    recorded = Recorded(
        marks=[(T0, 0), (T0 + 5, len(b"step 1\nTraceback\n")), (T0 + 9, len(output))],
        train=[TrainPoint(ts=T0 + 7, step=2, total=None, loss=0.5, lr=None, grad_norm=None)],
        host=[{"ts": T0 + 8, "type": "host", "cpu_pct": 50, "disk_free_gb": "?"}],
    )
    got = []
    for e in replay_events(run, recorded, output):
        got += list(e.lines) if isinstance(e, ev.OutputLines) else [e.name]
    assert got == [
        "run_started", "step 1", "Traceback", "failure", "metrics", "host", "step 2",
        "last words", "run_completed",
    ]  # fmt: skip
    (host,) = [e for e in replay_events(run, recorded, output) if isinstance(e, ev.HostStatus)]
    assert (host.cpu_pct, host.disk_free_gb) == (50.0, None)  # a bad value reads as n/a


def test_each_run_finds_its_part_of_a_rotated_train_log(tmp_path: Path) -> None:
    runs = split_runs([started(T0, "a"), started(T0 + 100, "b"), started(T0 + 200, "c")])
    first, second, third = b"a1\na2\n", b"b1\n", b"c1\nc2\nc3\n"
    (tmp_path / "train.log.2").write_bytes(b"older night\n" + first[:3])
    (tmp_path / "train.log.1").write_bytes(first[3:] + second)
    (tmp_path / "train.log").write_bytes(third)
    marks = [(T0, 0), (T0 + 5, 6), (T0 + 100, 0), (T0 + 101, 3), (T0 + 200, 0), (T0 + 209, 9)]
    lines = [json.dumps({"ts": ts, "type": "mark", "event": "x", "log": n}) for ts, n in marks]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    assert [run_slice(tmp_path, runs, r) for r in runs] == [
        (first, True, 0),
        (second, True, 0),
        (third, True, 0),
    ]
    (tmp_path / "train.log.2").unlink()  # the oldest part rotated away
    assert run_slice(tmp_path, runs, runs[0]) == (first[3:], True, 3)
    (tmp_path / "metrics.jsonl").write_text("")  # a journal from before metrics.jsonl
    assert run_slice(tmp_path, runs, runs[2]) == (first[3:] + second + third, False, 0)


def test_output_rotated_away_does_not_shift_the_milestones() -> None:
    fail = ev.Failure(ts=T0 + 5, kind="exception", signature="s", summary="boom")
    (run,) = split_runs([started(T0, "r"), fail])
    # "lost\n" (5 bytes) is gone from train.log; the marks still count it
    recorded = Recorded(marks=[(T0, 0), (T0 + 5, len(b"lost\nTraceback\n"))])
    got = []
    for e in replay_events(run, recorded, b"Traceback\nafter\n", skipped=5):
        got += list(e.lines) if isinstance(e, ev.OutputLines) else [e.name]
    assert got == ["run_started", "Traceback", "failure", "after"]


@pytest.fixture(scope="module")
def demo_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, run for real (two repairs, auto-approved) with the services a front end adds."""
    project, env = prepare_demo(os.environ, parent=tmp_path_factory.mktemp("night"))
    train = project / "train.py"
    train.write_text(train.read_text().replace("time.sleep(0.04)", "time.sleep(0)"))
    env |= {"PHOENIX_COOLDOWN_SECONDS": "0", "PHOENIX_GPU_INTERVAL_SEC": "0.25"}
    settings = resolve(project_dir=project, env=env)
    desk = ApprovalDesk("auto")
    engine = Engine(settings, env=env, approver=desk, gpu_sampler=SimulatedGpu())
    add_services(engine, desk, attach=False)
    asyncio.run(asyncio.wait_for(engine.run(), 90))
    return project


def _review(project: Path) -> tuple[PhoenixApp, PastRun, JournalSink]:
    settings = resolve(project_dir=project, env={"PHOENIX_TRAIN_CMD": "python train.py"})
    runs = load_runs(settings.state_dir)
    journal = JournalSink(settings.state_dir / "run.log", redactor=Redactor([]), max_bytes=0)
    app = review_app(settings, runs, runs[-1], redactor=Redactor([]), journal=journal)
    return app, runs[-1], journal


async def test_review_shows_the_night_and_changes_nothing_but_a_rollback(demo_night: Path) -> None:
    app, run, journal = _review(demo_night)
    assert run.outcome == "completed"
    train = demo_night / "train.py"
    before = train.read_text()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.model.phase is Phase.COMPLETED)
        await until(pilot, lambda: len(app.model.patches) == 2)
        model = app.model
        assert [e.state for e in model.patches.values()] == [PatchState.APPLIED] * 2
        text = [str(line) for line in app.query_one(LogView).lines]
        crash = next(i for i, t in enumerate(text) if "NameError" in t and "phoenix:" not in t)
        failure = next(i for i, t in enumerate(text) if "phoenix: failure [exception]" in t)
        resumed = next(i for i, t in enumerate(text) if t.startswith("resuming from"))
        applied = next(i for i, t in enumerate(text) if "phoenix: patch" in t and "applied" in t)
        assert crash < failure < applied < resumed  # the milestones in the output's order
        assert app.gpu.status is not None and app.gpu.status.source == "recorded"
        (card,) = app.gpu.status.gpus  # as sampled, power limit included (the gauge needs it)
        assert card.power_limit_w == 450 and card.temp_c is not None
        assert app.loss.last is not None and app.loss.last.step == 120
        metrics = app.query_one("#metrics", Static)  # the pane, not only the model: it is
        await until(pilot, lambda: "step 120" in str(metrics.render()))  # drawn at the next frame
        await pilot.press("s")  # nothing runs: nothing to stop, no question
        assert train.read_text() == before
        await until(pilot, lambda: app._backup_list.selected_id is not None)
        await app.roll_back(app._backup_list.selected_id or "").wait()  # as R then y would
        assert train.read_text() != before
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    journal.close()
    assert app.return_code == 0
    records = [json.loads(x) for x in (demo_night / ".phoenix_cli" / "run.log").open()]
    assert records[-1]["event"] == "rolled_back"


def test_marks_still_place_milestones_whose_journal_time_lost_its_microseconds(
    tmp_path: Path,
) -> None:
    """The journal keeps milliseconds (cut, not rounded): a mark must still match its event."""
    position = [0]
    sinks = [
        JournalSink(tmp_path / "run.log", redactor=Redactor([]), max_bytes=0),
        MetricsLog(tmp_path, max_bytes=0, log_position=lambda: position[0]),
    ]
    output = b"step 1\nTraceback\nstep 2\n"
    timeline: list[tuple[ev.Event, int]] = [
        (started(T0 + 0.0006, "r"), 0),
        (ev.Failure(ts=T0 + 5.0009, kind="exception", signature="s", summary="x"), 17),
        (ev.RunCompleted(ts=T0 + 9.9996, duration_s=9, restarts=1, run_id="r"), len(output)),
    ]
    for event, at in timeline:
        position[0] = at
        for sink in sinks:
            sink.emit(event)
    (run,) = load_runs(tmp_path)
    got = []
    for e in replay_events(run, read_metrics(tmp_path, 0), output):
        got += list(e.lines) if isinstance(e, ev.OutputLines) else [e.name]
    assert got == ["run_started", "step 1", "Traceback", "failure", "step 2", "run_completed"]
