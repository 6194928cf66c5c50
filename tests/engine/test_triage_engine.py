"""Issue 12 end to end through the real Engine: quarantine, debug rerun, progress-aware budgets,
crash loops, and the OOM fix on the command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode

Make = Callable[..., Settings]
PY = sys.executable


def run(engine: Engine) -> ExitCode:
    return asyncio.run(asyncio.wait_for(engine.run(), 60))


class FakeRepairer:
    def __init__(self) -> None:
        self.asked: list[Any] = []

    async def repair(self, failure: Any, tail: Sequence[str], ledger: Any, **_: object) -> str:
        self.asked.append(failure)
        return "no usable patch from any provider: restart without changes"


CHECKPOINTED = """
import os, signal, sys
from pathlib import Path
ck = Path("ckpt"); ck.mkdir(exist_ok=True)
args = sys.argv[1:]
start = 0
if "--resume" in args:
    p = Path(args[args.index("--resume") + 1])
    print(f"resuming from {p}", flush=True)
    data = p.read_text()
    if not data.endswith("END"):
        print("Traceback (most recent call last):")
        print('  File "train.py", line 12, in <module>')
        print("    state = torch.load(args.resume)")
        print("RuntimeError: PytorchStreamReader failed reading zip archive: "
              "failed finding central directory")
        sys.exit(1)
    start = int(data.split()[0])
for step in range(start + 1, 31):
    print(f"step {step} loss {1 / step:.3f}", flush=True)
    if step % 10 == 0 and step < 30:
        (ck / f"step_{step}.pt").write_text(f"{step} END")
    if step == 20 and start == 0:
        (ck / "step_20.pt").write_text("20 trunc")  # the save was cut short by the kill
        os.kill(os.getpid(), signal.SIGKILL)
print("done")
"""


def test_a_truncated_checkpoint_is_quarantined_and_the_run_completes_from_the_one_before(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(
        CHECKPOINTED, checkpoint_glob="ckpt/step_*.pt", resume_args="--resume {checkpoint}"
    )
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    failures = recorder.of(ev.Failure)
    assert [(f.kind, f.action) for f in failures] == [
        ("host_oom", "restart"),
        ("corrupt_checkpoint", "resume_previous"),
    ]
    assert [r.checkpoint for r in recorder.of(ev.Restarting)] == [
        "ckpt/step_20.pt",
        "ckpt/step_10.pt",
    ]
    (kept,) = (s.state_dir / "quarantine").iterdir()
    assert kept.name.endswith("-step_20.pt") and kept.read_text() == "20 trunc"  # never deleted
    assert "done" in (s.state_dir / "train.log").read_text()
    assert recorder.of(ev.ProcessStarted)[-1].command.endswith("--resume ckpt/step_10.pt")


DEVICE_ASSERT = """
import os, sys
blocking = os.environ.get("CUDA_LAUNCH_BLOCKING", "unset")
print(f"CUDA_LAUNCH_BLOCKING={blocking} TORCH_USE_CUDA_DSA={os.environ.get('TORCH_USE_CUDA_DSA')}")
print("Traceback (most recent call last):")
if blocking == "1":  # launches are synchronous: the traceback points at the kernel's caller
    print('  File "train.py", line 30, in embed_tokens')
    print("    return table[ids]")
else:
    print('  File "/venv/lib/python3.11/site-packages/torch/_tensor.py", line 9, in item')
print("RuntimeError: CUDA error: device-side assert triggered")
print("For debugging consider passing CUDA_LAUNCH_BLOCKING=1")
sys.exit(1)
"""


def test_a_device_assert_is_rerun_with_launch_blocking_then_repaired_from_that_traceback(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(DEVICE_ASSERT, patch_mode="auto", max_restarts="2")
    fake = FakeRepairer()
    assert run(Engine(s, env=os.environ, sinks=[recorder], repairer=fake)) == ExitCode.GAVE_UP
    actions = [f.action for f in recorder.of(ev.Failure)]
    assert actions[:2] == ["debug_rerun", "repair"]
    log = (s.state_dir / "train.log").read_text().splitlines()
    shown = [line for line in log if line.startswith("CUDA_LAUNCH_BLOCKING=")]
    assert shown == [
        "CUDA_LAUNCH_BLOCKING=unset TORCH_USE_CUDA_DSA=None",
        "CUDA_LAUNCH_BLOCKING=1 TORCH_USE_CUDA_DSA=1",  # the rerun, and only the rerun
        "CUDA_LAUNCH_BLOCKING=unset TORCH_USE_CUDA_DSA=None",
    ]
    assert fake.asked[0].location == "train.py:embed_tokens"
    assert any(
        "debug rerun with CUDA_LAUNCH_BLOCKING=1" in n.message for n in recorder.of(ev.Notice)
    )


SPACED_CRASHES = """
import sys
from pathlib import Path
ck = Path("ckpt"); ck.mkdir(exist_ok=True)
args = sys.argv[1:]
start = int(Path(args[args.index("--resume") + 1]).read_text()) if "--resume" in args else 0
for step in range(start + 1, 101):
    print(f"step {step}/100 loss {1 / step:.4f}", flush=True)
    if step % 10 == 0:
        (ck / f"step_{step}.pt").write_text(str(step))
    marker = Path(f"crashed_{step}")
    if step in (20, 40, 60, 80) and not marker.exists():
        marker.write_text("1")
        raise RuntimeError("lost the connection to the data server")
print("done")
"""


def test_four_spaced_crashes_with_progress_complete(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(
        SPACED_CRASHES,
        max_retries="3",
        checkpoint_glob="ckpt/step_*.pt",
        resume_args="--resume {checkpoint}",
    )
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    failures = recorder.of(ev.Failure)
    assert len(failures) == 4 and len({f.signature for f in failures}) == 1
    restarts = recorder.of(ev.Restarting)
    assert [r.attempt for r in restarts] == [1, 1, 1, 1]  # progress resets the count
    assert all("count reset: the run got to step" in r.budget for r in restarts[1:])
    assert [r.checkpoint for r in restarts] == [f"ckpt/step_{n}.pt" for n in (20, 40, 60, 80)]


CRASH_LOOP = """
import os
for step in range(1, 6):
    print(f"step {step} loss 0.5", flush=True)
raise ValueError(f"corrupt sample in shard {os.getpid() % 7}")
"""


def test_a_crash_loop_without_progress_gives_up_after_three_restarts(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(CRASH_LOOP, max_retries="10")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    assert recorder.names().count("restarting") == 3
    (gave_up,) = recorder.of(ev.GaveUp)
    assert gave_up.rule == "PHOENIX_MAX_NO_PROGRESS_RESTARTS"
    assert "3 restarts in a row made no progress" in gave_up.reason
    assert "PHOENIX_MAX_NO_PROGRESS_RESTARTS=3" in gave_up.reason
    budgets = [r.budget for r in recorder.of(ev.Restarting)]
    assert "1 of 3 restarts without progress" in budgets[1]


def test_the_no_progress_limit_is_a_setting(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings(CRASH_LOOP, max_retries="10", max_no_progress_restarts="1")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    assert recorder.names().count("restarting") == 1


OOM_FLAG = """
import argparse, sys
p = argparse.ArgumentParser()
p.add_argument("--batch_size", type=int, default=32)
args = p.parse_args()
print(f"step 1 loss 0.9 batch {args.batch_size}", flush=True)
if args.batch_size > 4:
    print("Traceback (most recent call last):")
    print('  File "train.py", line 9, in <module>')
    print("    out = model(batch)")
    print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a "
          "total capacity of 23.65 GiB of which 1.10 GiB is free.")
    sys.exit(1)
print("done")
"""


def test_an_oom_with_the_batch_size_on_the_command_line_is_fixed_there(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(OOM_FLAG, patch_mode="auto", train_cmd=f"{PY} train.py --batch_size 8")
    source = (s.project_dir / "train.py").read_text()
    fake = FakeRepairer()
    assert run(Engine(s, env=os.environ, sinks=[recorder], repairer=fake)) == ExitCode.COMPLETED
    commands = [p.command for p in recorder.of(ev.ProcessStarted)]
    assert commands == [f"{PY} train.py --batch_size 8", f"{PY} train.py --batch_size 4"]
    assert fake.asked == []  # no provider: the argparse default would change nothing
    assert (s.project_dir / "train.py").read_text() == source
    (restart,) = recorder.of(ev.Restarting)
    assert "--batch_size 8 -> 4" in restart.reason
    state = json.loads((s.state_dir / "state.json").read_text())
    assert state["command"]["command"] == f"{PY} train.py --batch_size 4"
    # The next phoenix on the same command starts with the smaller batch at once.
    again = Recorder()
    assert run(Engine(s, env=os.environ, sinks=[again])) == ExitCode.COMPLETED
    assert [p.command for p in again.of(ev.ProcessStarted)] == [commands[1]]


LAUNCHER_HANG = """
import os, signal, sys, time
def shutdown(signum, frame):
    # what torchrun prints once Phoenix's SIGINT arrives: never the hang itself
    print(f"Received Signals.SIGINT death signal, shutting down workers", flush=True)
    print(f"torch.distributed.elastic.multiprocessing.api.SignalException: "
          f"Process {os.getpid()} got signal: 2", flush=True)
    sys.exit(1)
signal.signal(signal.SIGINT, shutdown)
print("step 5/100 loss 0.7", flush=True)
time.sleep(60)
"""


def test_a_hang_is_summarised_by_the_last_line_before_the_silence(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(LAUNCHER_HANG, heartbeat_min="0.01", max_retries="1")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    hangs = recorder.of(ev.Failure)
    assert [f.kind for f in hangs] == ["hang", "hang"]
    assert all(f.summary.endswith("last line: step 5/100 loss 0.7") for f in hangs)
    assert hangs[0].signature == hangs[1].signature  # the PID after the SIGINT changes nothing
    assert "got signal: 2" in (s.state_dir / "train.log").read_text()
