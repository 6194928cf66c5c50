"""The engine with its eyes open: guards, NaN actions, progress, stalls, data, checkpoints."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import Recorder
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import DataError, ExitCode
from phoenix_engine.events import GpuReading, GpuStatus

Make = Callable[..., Settings]

SECOND_RUN_COMPLETES = """
import time
from pathlib import Path
marker = Path("second")
if marker.exists():
    print("second run done", flush=True)
else:
    marker.write_text("1")
    print("running", flush=True)
    time.sleep(60)
"""


class DialGpu:
    """A GPU whose temperature the test turns like a dial."""

    def __init__(self) -> None:
        self.temp = 50.0

    def sample(self) -> GpuStatus:
        return GpuStatus(source="nvml", gpus=(GpuReading(index=0, name="fake", temp_c=self.temp),))


def test_hot_gpu_stops_the_run_and_a_cool_one_restarts_it(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(
        SECOND_RUN_COMPLETES,
        max_gpu_temp="90",
        guard_samples="2",
        guard_resume_margin="5",
        gpu_interval_sec="0.25",
        max_retries="0",  # a guard restart must not use the failure budget
    )
    gpu = DialGpu()
    engine = Engine(s, env=os.environ, sinks=[recorder], gpu_sampler=gpu)

    async def scenario() -> ExitCode:
        task = asyncio.create_task(engine.run())
        await until(lambda: "process_started" in recorder.names(), 15, what="start")
        gpu.temp = 95
        await until(lambda: "process_exited" in recorder.names(), 15, what="guard stop")
        gpu.temp = 87  # still within the resume margin: no restart yet
        # A real delay: four GPU samples' worth of time in which no restart may happen.
        await asyncio.sleep(1.0)
        assert "guard_cleared" not in recorder.names()
        gpu.temp = 70
        return await asyncio.wait_for(task, 20)

    assert asyncio.run(scenario()) == ExitCode.COMPLETED
    names = recorder.names()
    order = ["guard_tripped", "process_exited", "guard_cleared", "restarting", "process_started"]
    positions = [names.index(n, names.index("guard_tripped")) for n in order]
    assert positions == sorted(positions)
    assert "failure" not in names and "repair_requested" not in names
    tripped = recorder.of(ev.GuardTripped)[0]
    assert (tripped.guard, tripped.reading, tripped.limit) == ("gpu_temp", 95, 90)
    assert recorder.of(ev.Restarting)[0].restarts_used == 1
    assert any(isinstance(e, GpuStatus) for e in recorder.events)


NAN_SCRIPT = """
import time
from pathlib import Path
if Path("second").exists():
    print("step 3 loss 0.4", flush=True)
    raise SystemExit(0)
Path("second").write_text("1")
print("step 1 loss 0.5", flush=True)
print("step 2 loss nan", flush=True)
time.sleep(60)
"""


def test_nan_loss_with_stop_ends_the_run_with_4(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings(NAN_SCRIPT, nan_action="stop")
    assert asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run()) == ExitCode.STOPPED
    (anomaly,) = recorder.of(ev.Anomaly)
    assert anomaly.kind == "nan" and anomaly.step == 2
    assert "PHOENIX_NAN_ACTION=stop" in recorder.of(ev.Stopped)[0].reason


def test_nan_loss_with_notify_only_reports(make_settings: Make, recorder: Recorder) -> None:
    script = "print('step 1 loss 0.5')\nprint('step 2 loss nan')\nprint('step 3 loss nan')\n"
    s = make_settings(script)
    assert asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run()) == ExitCode.COMPLETED
    assert [a.kind for a in recorder.of(ev.Anomaly)] == ["nan"]  # once per episode


class RecordingRepairer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def repair(
        self, failure: object, tail: object, ledger: object, *, extra: str = ""
    ) -> str:
        self.calls.append((getattr(failure, "kind", ""), extra))
        return "looked at it"


def test_nan_loss_with_repair_asks_with_the_loss_history(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(NAN_SCRIPT, nan_action="repair", patch_mode="auto")
    repairer = RecordingRepairer()
    engine = Engine(s, env=os.environ, sinks=[recorder], repairer=repairer)
    assert asyncio.run(engine.run()) == ExitCode.COMPLETED
    ((kind, extra),) = repairer.calls
    assert kind == "diverged"
    assert "step 1: 0.5" in extra and "step 2: nan" in extra
    assert recorder.of(ev.Failure)[0].kind == "diverged"


def test_progress_every_n_steps(make_settings: Make, recorder: Recorder) -> None:
    script = "".join(f"print('step {i}/6 loss {1 / i:.3f}')\n" for i in range(1, 7))
    s = make_settings(script, notify_steps="2")
    assert asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run()) == ExitCode.COMPLETED
    progress = recorder.of(ev.Progress)
    assert [p.step for p in progress] == [2, 4, 6]
    assert progress[0].loss == "0.500"  # as printed
    samples = [m.step for m in recorder.of(ev.MetricSample)]
    # samples are latest-value (at most ten a second); the newest always arrives
    assert samples[-1] == 6 and samples == sorted(samples)


def test_stalled_steps_with_continuing_output(make_settings: Make, recorder: Recorder) -> None:
    script = (
        "import time\nprint('step 5 loss 0.5', flush=True)\n"
        "for _ in range(20):\n    print('still evaluating...', flush=True)\n    time.sleep(0.1)\n"
    )
    s = make_settings(script, stall_min="0.01", gpu_interval_sec="0.25")
    assert asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run()) == ExitCode.COMPLETED
    (stall,) = [a for a in recorder.of(ev.Anomaly) if a.kind == "stall"]
    assert stall.step == 5


def test_strict_data_verification_refuses_a_changed_data_dir(
    make_settings: Make, recorder: Recorder, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text('{"x": 1}\n' * 100)
    (data / "val.jsonl").write_text('{"x": 2}\n' * 10)
    s = make_settings("print('ok')\n", data_verify="strict")
    assert asyncio.run(Engine(s, env=os.environ, sinks=[Recorder()]).run()) == ExitCode.COMPLETED
    (data / "train.jsonl").write_text('{"x": 1}\n' * 50)  # truncated
    (data / "val.jsonl").unlink()
    with pytest.raises(DataError, match="strict"):
        asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run())
    (changed,) = recorder.of(ev.DataChanged)
    assert changed.truncated == ("train.jsonl",) and changed.missing == ("val.jsonl",)
    assert "process_started" not in recorder.names()


def test_restart_resumes_from_the_newest_complete_checkpoint(
    make_settings: Make, recorder: Recorder
) -> None:
    script = """
import sys
from pathlib import Path
if "--resume" in sys.argv:
    print("resumed from", sys.argv[sys.argv.index("--resume") + 1])
    raise SystemExit(0)
Path("ckpt").mkdir(exist_ok=True)
Path("ckpt/step-10.pt").write_bytes(b"x" * 1000)
raise RuntimeError("crash right after a save")
"""
    s = make_settings(script, checkpoint_glob="ckpt/*.pt", resume_args="--resume {checkpoint}")
    assert asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run()) == ExitCode.COMPLETED
    assert recorder.of(ev.Restarting)[0].checkpoint == "ckpt/step-10.pt"
    assert recorder.of(ev.ProcessStarted)[1].command.endswith("--resume ckpt/step-10.pt")
    assert "resumed from ckpt/step-10.pt" in (s.state_dir / "train.log").read_text()


def test_warn_mode_reports_a_data_change_once(
    make_settings: Make, recorder: Recorder, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"x" * 100)
    s = make_settings("print('ok')\n")
    assert asyncio.run(Engine(s, env=os.environ, sinks=[Recorder()]).run()) == ExitCode.COMPLETED
    (data / "a.bin").write_bytes(b"x" * 10)
    assert asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run()) == ExitCode.COMPLETED
    assert recorder.of(ev.DataChanged)[0].truncated == ("a.bin",)
    again = Recorder()
    assert asyncio.run(Engine(s, env=os.environ, sinks=[again]).run()) == ExitCode.COMPLETED
    assert again.of(ev.DataChanged) == []


def test_a_crash_prompt_gets_no_loss_history(make_settings: Make, recorder: Recorder) -> None:
    script = CRASH_AFTER_LOSSES
    s = make_settings(script, patch_mode="auto", max_retries="1")
    repairer = RecordingRepairer()
    engine = Engine(s, env=os.environ, sinks=[recorder], repairer=repairer)
    assert asyncio.run(engine.run()) == ExitCode.COMPLETED
    ((kind, extra),) = repairer.calls
    assert kind == "exception" and extra == ""


CRASH_AFTER_LOSSES = """
from pathlib import Path
print("step 1 loss 0.5", flush=True)
print("{'loss': 0.4}", flush=True)
if not Path("second").exists():
    Path("second").write_text("1")
    raise KeyError("batch")
"""


def test_loss_history_text_never_has_unknown_step_rows() -> None:
    from phoenix_engine.core.settings import resolve
    from phoenix_engine.io.telemetry import Telemetry

    t = Telemetry(resolve(project_dir=Path("."), env={}), emit=lambda e: None, gpu=None, host=None)
    t.on_lines(["{'loss': 0.5}", "{'loss': 0.25}"])
    assert t.loss_history_text() == (
        "Recent training losses (oldest first):\nin order, steps unknown: 0.5, 0.25"
    )
    t.on_lines(["step 7 loss 0.2", "{'loss': 0.1}"])
    text = t.loss_history_text()
    assert "step ?" not in text and "step 7: 0.2\nstep 7: 0.1" in text


def test_a_restart_from_scratch_starts_a_new_loss_segment(
    make_settings: Make, recorder: Recorder
) -> None:
    # crashes at step 12, and the restart starts over at step 1 with a fresh model's loss
    script = """
from pathlib import Path
again = Path("again").exists()
Path("again").write_text("1")
for i in range(1, 13 if not again else 4):
    print(f"step {i} loss {8.0 if again else 1.0}", flush=True)
if not again:
    raise RuntimeError("crash")
"""
    s = make_settings(script, max_retries="1")
    assert asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run()) == ExitCode.COMPLETED
    assert not [a for a in recorder.of(ev.Anomaly) if a.kind == "spike"]
    (notice,) = [n for n in recorder.of(ev.Notice) if "step count went back" in n.message]
    assert "went back to 1" in notice.message and "segment 2" in notice.message
    assert recorder.of(ev.MetricSample)[-1].segment == 1
