"""metrics.jsonl: what the sink keeps (train rows, 30 s GPU/host samples, train.log marks), that
it never raises, that it rotates, and that the reader reads it back across the rotation."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.io.metrics_log import MetricsLog
from phoenix_engine.io.recorded import read_metrics
from phoenix_engine.services import add_services

T0 = 1_790_000_000.0
STARTED = ev.RunStarted(ts=T0, command="c", project="/p", mode="auto", phoenix_pid=1, run_id="r1")


def gpu(ts: float, temp: float = 60.0) -> ev.GpuStatus:
    reading = ev.GpuReading(index=0, name="Fake", temp_c=temp, util_pct=90.0, power_w=200.0)
    return ev.GpuStatus(ts=ts, source="nvml", gpus=(reading,))


def rows(state: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (state / "metrics.jsonl").read_text().splitlines()]


def test_keeps_steps_gpu_every_30s_and_marks_where_milestones_fall(tmp_path: Path) -> None:
    position = [0]
    log = MetricsLog(tmp_path, max_bytes=0, log_position=lambda: position[0])
    log.emit(ev.Notice(ts=T0 - 1, message="before the run: nowhere to write yet"))
    log.emit(STARTED)
    log.emit(ev.MetricSample(ts=T0 + 1, step=10, total_steps=100, loss=2.5, lr=1e-3))
    log.emit(ev.MetricSample(ts=T0 + 2, step=20, loss=float("nan"), grad_norm=7.25))
    log.emit(ev.MetricSample(ts=T0 + 2.5, step=21))  # a step alone: nothing to keep
    for second in (0, 10, 29, 31, 45, 62):
        log.emit(gpu(T0 + second))
    log.emit(ev.HostStatus(ts=T0 + 3, cpu_pct=12.0, ram_used_gb=3.0, disk_free_gb=40.0))
    log.emit(ev.HostStatus(ts=T0 + 4, cpu_pct=99.0))
    position[0] = 120
    log.emit(ev.Failure(ts=T0 + 70, kind="exception", signature="s", summary="boom"))
    log.emit(ev.Restarting(ts=T0 + 71, attempt=1, max_attempts=3, restarts_used=1,
                           max_restarts=20, cooldown_s=0, reason="r"))  # fmt: skip
    got = rows(tmp_path)
    train = [r for r in got if r["type"] == "train"]
    assert train == [
        {"ts": T0 + 1, "type": "train", "step": 10, "total": 100, "loss": 2.5, "lr": 0.001,
         "grad_norm": None},
        {"ts": T0 + 2, "type": "train", "step": 20, "loss": "nan", "lr": None, "grad_norm": 7.25},
    ]  # fmt: skip
    assert [r["ts"] - T0 for r in got if r["type"] == "gpu"] == [0, 31, 62]
    assert [r["cpu_pct"] for r in got if r["type"] == "host"] == [12.0]
    marks = [(r["event"], r["log"]) for r in got if r["type"] == "mark"]
    # the restart adds no mark: the failure's already places it in train.log
    assert marks == [("run_started", 0), ("failure", 120)]
    assert got[0]["run"] == "r1"


def test_never_raises_and_reports_a_failed_write_once(tmp_path: Path) -> None:
    told: list[str] = []
    state = tmp_path / "state"
    state.mkdir()
    (state / "metrics.jsonl").mkdir()  # cannot be opened as a file
    log = MetricsLog(state, max_bytes=0, on_error=told.append)
    log.emit(STARTED)
    log.emit(ev.MetricSample(ts=T0 + 1, step=1, loss=1.0))
    assert len(told) == 1 and "metrics.jsonl" in told[0]


def test_after_close_events_are_ignored(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path, max_bytes=0)
    log.emit(STARTED)
    asyncio.run(log.aclose())
    log.emit(ev.RolledBack(ts=T0 + 5, backup_id="b", paths=("train.py",)))  # the console's
    log.emit(STARTED)  # not reopened either
    assert [r["event"] for r in rows(tmp_path)] == ["run_started"]


def test_rotates_with_the_log_size_and_reads_back_across_files(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path, max_bytes=400)
    log.emit(STARTED)
    for i in range(40):
        log.emit(ev.MetricSample(ts=T0 + i, step=i, loss=1.0 / (i + 1)))
    assert (tmp_path / "metrics.jsonl.1").exists()
    assert not (tmp_path / "metrics.jsonl.4").exists()  # three kept, as the journal
    got = read_metrics(tmp_path, T0 + 30)
    assert [p.step for p in got.train] == list(range(30, 40))
    bounded = read_metrics(tmp_path, T0 + 30, T0 + 32)
    assert [p.step for p in bounded.train] == [30, 31, 32]


def test_reader_skips_what_it_cannot_read(tmp_path: Path) -> None:
    lines = [
        "not json",
        json.dumps({"ts": T0, "type": "train", "step": 1, "loss": "nan"}),
        json.dumps({"type": "train", "step": 2}),  # no time
        json.dumps({"ts": T0 + 1, "type": "gpu", "gpus": [{"index": "x"}, {"index": 1}]}),
        json.dumps({"ts": T0 + 2, "type": "mark", "event": "failure", "log": 12}),
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    got = read_metrics(tmp_path, 0)
    assert [p.step for p in got.train] == [1]
    loss = got.train[0].loss
    assert loss is not None and loss != loss  # NaN comes back as NaN
    assert [(g.index, g.temp_c) for g in got.gpu] == [(1, None)]
    assert got.marks == [(T0 + 2, 12)]


@pytest.mark.timeout(30)
def test_a_real_run_keeps_its_metrics_and_marks_train_log(
    make_settings: Callable[..., Settings], recorder: Recorder
) -> None:
    script = "for i in range(1, 4):\n    print(f'step {i} loss {1.0 / i} grad_norm 0.5')\n"
    settings = make_settings(script)
    engine = Engine(settings, env=os.environ, sinks=[recorder])
    add_services(engine, None, attach=False)
    asyncio.run(asyncio.wait_for(engine.run(), 20))
    state = settings.state_dir
    got = read_metrics(state, 0)
    assert [(p.step, p.grad_norm) for p in got.train][-1] == (3, 0.5)
    size = (state / "train.log").stat().st_size
    assert got.marks[0][1] == 0 and got.marks[-1][1] == size  # the end: all of train.log
    (started,) = recorder.of(ev.RunStarted)
    (done,) = recorder.of(ev.RunCompleted)
    assert started.run_id and done.run_id == started.run_id
