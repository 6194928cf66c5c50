"""Past runs from the journal: boundaries, outcomes (completed, gave up, guard, stopped, Phoenix
crashed), the summary ``phoenix status`` prints, journals from older versions, and the picture."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from phoenix_engine import events as ev
from phoenix_engine.core.history import as_dict, one_line, split_runs, summary_lines
from phoenix_engine.core.redact import Redactor
from phoenix_engine.errors import ReportError
from phoenix_engine.io.journal import event_record
from phoenix_engine.io.recorded import (
    GpuPoint,
    Recorded,
    TrainPoint,
    event_from_record,
    load_runs,
    read_journal,
)
from phoenix_engine.io.report import markers, render

T0 = 1_790_000_000.0


def started(ts: float, run_id: str = "") -> ev.RunStarted:
    return ev.RunStarted(
        ts=ts, command="c", project="/p", mode="auto", phoenix_pid=1, run_id=run_id
    )


FAILURE = ev.Failure(ts=T0 + 60, kind="exception", signature="s" * 16, summary="NameError: x")
PROPOSED = ev.PatchProposed(
    ts=T0 + 61, id="de6e9b62acff", provider="builtin", signature="s", paths=("train.py",),
    diff="-a\n+b", diagnosis="NameError: 'lerning_rate' does not exist. Renaming it fixes it.",
)  # fmt: skip
APPLIED = ev.PatchApplied(ts=T0 + 62, id="de6e9b62acff", backup_id="b1", paths=("train.py",))
RESTART = ev.Restarting(
    ts=T0 + 63, attempt=1, max_attempts=3, restarts_used=1, max_restarts=20, cooldown_s=1,
    reason="patched",
)  # fmt: skip


def write_journal(state: Path, events: list[ev.Event]) -> None:
    state.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(event_record(e, Redactor([]))) for e in events]
    (state / "run.log").write_text("\n".join(lines) + "\n")


def test_a_repaired_run_that_completed(tmp_path: Path) -> None:
    done = ev.RunCompleted(ts=T0 + 3600, duration_s=3600, restarts=1, run_id="r1")
    write_journal(tmp_path, [started(T0, "r1"), FAILURE, PROPOSED, APPLIED, RESTART, done])
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"ts": T0 + 3500, "type": "train", "step": 900, "total": 1000, "loss": 0.25})
        + "\n"
    )
    (run,) = load_runs(tmp_path)
    assert (run.run_id, run.outcome, run.duration_s) == ("r1", "completed", 3600)
    d = as_dict(run)
    assert d["restarts"] == 1 and d["step"] == 900 and d["total_steps"] == 1000
    assert d["loss"] == 0.25 and d["advice"] == ""
    assert d["repairs"] == [
        {"id": "de6e9b62acff", "summary": "NameError: 'lerning_rate' does not exist (train.py)",
         "paths": ["train.py"], "backup_id": "b1", "dry_run": False},
    ]  # fmt: skip
    text = "\n".join(summary_lines(run))
    assert "last run r1: completed" in text and "after 1h00m" in text
    assert "de6e9b62  NameError: 'lerning_rate' does not exist (train.py)" in text
    assert "step 900/1000, loss 0.25" in text
    assert f"{tmp_path}/ (run.log, train.log, metrics.jsonl)" in text
    assert "completed" in one_line(run) and "1 repair(s)" in one_line(run)
    (bare,) = split_runs([started(T0, "r2")])
    assert "  training: no step or loss recorded" in summary_lines(bare)


@pytest.mark.parametrize(
    ("ending", "running", "outcome", "advice"),
    [
        ([ev.GaveUp(ts=T0 + 9, reason="PHOENIX_MAX_RETRIES=3 reached", run_id="r")], False,
         "gave up", "phoenix reset"),
        ([ev.GuardTripped(ts=T0 + 8, guard="gpu_temp", reading=95, limit=90),
          ev.GaveUp(ts=T0 + 9, reason="a guard tripped and the restart cap is reached (20)")],
         False, "guard", "cooling"),
        ([ev.Stopped(ts=T0 + 9, reason="phoenix received SIGTERM")], False, "stopped", ""),
        ([], False, "crashed", "Phoenix itself ended"),
        ([], True, "running", ""),
    ],
)  # fmt: skip
def test_outcomes(
    ending: list[ev.Event], running: bool, outcome: str, advice: str, tmp_path: Path
) -> None:
    (run,) = split_runs([started(T0, "r"), FAILURE, *ending], engine_running=running)
    assert run.outcome == outcome
    assert advice in as_dict(run)["advice"]
    if outcome == "gave up":
        assert "  reason:   PHOENIX_MAX_RETRIES=3 reached" in summary_lines(run)


def test_a_run_without_end_followed_by_another_is_a_crash() -> None:
    runs = split_runs([started(T0, "a"), FAILURE, started(T0 + 100, "b")], engine_running=True)
    assert [(r.run_id, r.outcome) for r in runs] == [("a", "crashed"), ("b", "running")]


def test_resumed_after_giving_up_ends_as_the_last_final_event_says() -> None:
    events = [
        started(T0, "r"),
        ev.GaveUp(ts=T0 + 5, reason="budget", run_id="r"),
        ev.Notice(ts=T0 + 6, message="resumed by discord"),
        ev.RunCompleted(ts=T0 + 50, duration_s=40, restarts=0, run_id="r"),
    ]
    (run,) = split_runs(events)
    assert run.outcome == "completed" and run.duration_s == 50


def test_journals_from_before_run_ids_still_split() -> None:
    old = [started(T0), ev.RunCompleted(ts=T0 + 5, duration_s=5, restarts=0)]
    again = [started(T0 + 0.5), ev.Stopped(ts=T0 + 9, reason="x")]
    runs = split_runs([ev.RolledBack(ts=T0 - 5, backup_id="b", paths=()), *old, *again])
    assert [r.outcome for r in runs] == ["completed", "stopped"]
    assert runs[0].run_id == "20260921-141320" and runs[1].run_id == "20260921-141320.2"


def test_records_rebuild_events_and_unknown_ones_are_skipped(tmp_path: Path) -> None:
    record: dict[str, Any] = event_record(APPLIED, Redactor([]))
    assert event_from_record(record) == APPLIED
    assert event_from_record({**record, "new_field": 1}) == APPLIED  # a newer Phoenix
    assert event_from_record({"ts": record["ts"], "event": "patch_applied"}) is None
    assert event_from_record({**record, "event": "from_the_future"}) is None
    state = tmp_path / "s"
    write_journal(state, [started(T0, "x"), APPLIED])
    with (state / "run.log").open("a") as fh:
        fh.write("{torn line\n")
    (state / "run.log.1").write_text(json.dumps(event_record(FAILURE, Redactor([]))) + "\n")
    assert [e.name for e in read_journal(state)] == ["failure", "run_started", "patch_applied"]


def test_the_picture_marks_what_happened_with_its_kind() -> None:
    events = [started(T0), FAILURE, APPLIED, RESTART,
              ev.GuardTripped(ts=T0 + 70, guard="gpu_temp", reading=95, limit=90),
              ev.HangDetected(ts=T0 + 80, pid=1, silent_s=600, last_line=""),
              ev.GaveUp(ts=T0 + 90, reason="r")]  # fmt: skip
    assert [m.label for m in markers(events)] == [
        "failure: exception", "repair de6e9b62", "restart", "guard: gpu_temp", "hang", "gave up",
    ]  # fmt: skip


def test_the_picture_is_drawn_as_png_and_svg() -> None:
    pytest.importorskip("matplotlib", reason="the report extra is not installed")
    (run,) = split_runs([started(T0, "r"), FAILURE, APPLIED, RESTART,
                         ev.RunCompleted(ts=T0 + 600, duration_s=600, restarts=1)])  # fmt: skip
    points = [TrainPoint(ts=T0 + i * 10, step=i, total=None, loss=1 / (i + 1), lr=None,
                         grad_norm=None) for i in range(50)]  # fmt: skip
    points.append(TrainPoint(ts=T0 + 505, step=51, total=None, loss=math.nan, lr=None,
                             grad_norm=None))  # fmt: skip
    gpus = [GpuPoint(ts=T0 + i * 30, index=0, name="g", temp_c=60.0 + i, util_pct=90.0,
                     power_w=None, power_limit_w=None, mem_used_mb=8e3, mem_total_mb=16e3)
            for i in range(20)]  # fmt: skip
    recorded = Recorded(train=points, gpu=gpus)
    png = render(run, recorded)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert render(run, Recorded(), fmt="svg").lstrip().startswith(b"<?xml")


def test_without_matplotlib_the_report_says_how_to_install_it() -> None:
    def missing() -> tuple[Any, Any]:
        raise ModuleNotFoundError("No module named 'matplotlib'")

    (run,) = split_runs([started(T0, "r")])
    with pytest.raises(ReportError) as caught:
        render(run, Recorded(), load=missing)
    assert "pip install 'phoenix-supervisor[report]'" in str(caught.value)


def test_a_hostile_journal_still_gives_a_summary(tmp_path: Path) -> None:
    good = event_record(started(T0, "r"), Redactor([]))
    lines = [
        json.dumps(good),
        json.dumps({"ts": 12, "event": "failure"}),  # a number for a time
        json.dumps({**event_record(RESTART, Redactor([])), "attempt": "many", "reason": None}),
        json.dumps({**event_record(APPLIED, Redactor([])), "paths": "train.py", "id": 7}),
        json.dumps({**event_record(FAILURE, Redactor([])), "kind": ["?"], "summary": 3}),
        json.dumps(["not", "an", "object"]),
        json.dumps({**event_record(ev.GaveUp(ts=T0 + 8, reason="r"), Redactor([])), "reason": 5}),
        json.dumps(event_record(ev.GaveUp(ts=T0 + 9, reason="budget spent"), Redactor([]))),
    ]
    (tmp_path / "run.log").write_text("\n".join(lines) + "\n")
    (tmp_path / "metrics.jsonl").write_text('{"ts": "soon", "type": "train"}\n[1]\n')
    (run,) = load_runs(tmp_path)
    assert run.outcome == "gave up" and run.view.final_reason == "budget spent"
    assert summary_lines(run)[0].startswith("last run r: gave up")
    assert [e.name for e in run.events] == ["run_started", "gave_up"]  # the damaged left out
    json.dumps(as_dict(run))  # still one JSON object
