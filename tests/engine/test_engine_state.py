"""The engine's states: the transition table, the operator's requests, the process seam."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine._control import RunControl
from phoenix_engine.core.engine_state import (
    TRANSITIONS,
    ChildOutcome,
    EngineState,
    after_child,
    transition,
)
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ContractError, ExitCode
from phoenix_engine.io.supervisor import ExitInfo, StopReport

S = EngineState
Make = Callable[..., Settings]

LEGAL = [
    (S.IDLE, S.PREPARING),
    (S.IDLE, S.STOPPING),  # a stop before the run
    (S.PREPARING, S.STARTING),
    (S.PREPARING, S.GUARDED),  # a guard tripped before the first start
    (S.STARTING, S.RUNNING),
    (S.STARTING, S.REPAIRING),  # the command could not start
    (S.RUNNING, S.REPAIRING),
    (S.RUNNING, S.GUARDED),
    (S.RUNNING, S.PROMOTING),
    (S.RUNNING, S.PAUSING),
    (S.RUNNING, S.STOPPING),
    (S.REPAIRING, S.STARTING),
    (S.REPAIRING, S.HOLDING),  # gave up, held for a resume
    (S.GUARDED, S.GUARDED),  # tripped again before the restart
    (S.GUARDED, S.STARTING),
    (S.PAUSING, S.HOLDING),
    (S.PAUSING, S.STOPPING),  # a leaving stop after a remote !stop
    (S.HOLDING, S.RESUMING),
    (S.HOLDING, S.STOPPING),
    (S.RESUMING, S.STARTING),
    (S.PROMOTING, S.EXITED),
    (S.STOPPING, S.EXITED),
    (S.HOLDING, S.EXITED),
]
ILLEGAL = [
    (S.IDLE, S.RUNNING),  # nothing runs before it was started
    (S.RUNNING, S.STARTING),  # a run ends in a decision first
    (S.RUNNING, S.HOLDING),
    (S.PROMOTING, S.HOLDING),  # a completed run never waits for a resume
    (S.PROMOTING, S.STARTING),
    (S.STOPPING, S.STARTING),  # a leaving stop never restarts
    (S.STOPPING, S.HOLDING),
    (S.STOPPING, S.PAUSING),
    (S.HOLDING, S.STARTING),  # a resume comes first
    (S.PAUSING, S.RUNNING),
    (S.EXITED, S.EXITED),
    (S.EXITED, S.PREPARING),  # an engine runs once
]


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_transitions(current: EngineState, target: EngineState) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transitions_raise_a_contract_error(
    current: EngineState, target: EngineState
) -> None:
    with pytest.raises(ContractError, match=f"{current} -> {target}"):
        transition(current, target)


def test_the_table_covers_every_state_and_only_exited_ends() -> None:
    assert set(TRANSITIONS) == set(EngineState)
    for current, target in itertools.product(EngineState, EngineState):
        allowed = target in TRANSITIONS[current] or (target is S.EXITED and current is not S.EXITED)
        if allowed:
            assert transition(current, target) is target
        else:
            with pytest.raises(ContractError):
                transition(current, target)
    assert {s for s in EngineState if not TRANSITIONS[s]} == {S.STOPPING, S.EXITED}


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (ChildOutcome.COMPLETED, S.PROMOTING),
        (ChildOutcome.FAILED, S.REPAIRING),
        (ChildOutcome.REFUSED_RESUME, S.REPAIRING),
        (ChildOutcome.GUARDED, S.GUARDED),
    ],
)
def test_what_follows_a_run_of_the_child(outcome: ChildOutcome, state: EngineState) -> None:
    assert after_child(outcome) is state


def test_a_stopped_child_has_no_state_of_its_own() -> None:
    with pytest.raises(ContractError):  # the stop request already moved the state
        after_child(ChildOutcome.STOPPED)


def control(hold: bool) -> tuple[RunControl, list[str], list[str]]:
    kills: list[str] = []
    cancelled: list[str] = []
    made = RunControl(
        hold_after_end=hold, kill_now=lambda: kills.append("kill"), cancel_pending=cancelled.append
    )
    return made, kills, cancelled


@pytest.mark.parametrize(
    ("hold", "leave", "state"),
    [
        (False, True, S.STOPPING),
        (False, False, S.STOPPING),  # without hold_after_end every stop leaves
        (True, True, S.STOPPING),
        (True, False, S.PAUSING),
    ],
)
def test_a_stop_request_is_a_state(hold: bool, leave: bool, state: EngineState) -> None:
    made, kills, cancelled = control(hold)
    made.move(S.PREPARING)
    made.move(S.STARTING)
    made.move(S.RUNNING)
    made.request_stop("first", leave=leave)
    assert made.state is state and made.stop.is_set() and made.reason == "first"
    assert cancelled == ["phoenix is stopping: first"] and kills == [] and not made.force
    made.request_stop("second")  # a second request kills at once, and always leaves
    assert made.state is S.STOPPING and made.reason == "first"
    assert kills == ["kill"] and made.force


async def test_holding_ends_in_a_resume_or_a_leaving_stop() -> None:
    notes: list[str] = []
    made, _, _ = control(hold=True)
    for state in (S.PREPARING, S.STARTING, S.RUNNING):
        made.move(state)
    made.request_stop("!stop", leave=False)
    assert made.holds_after(done=False) and not made.holds_after(done=True)
    assert not made.resume("early")  # nothing holds yet
    held = asyncio.create_task(made.hold(notes.append))
    await asyncio.sleep(0)
    assert made.state is S.HOLDING
    made.request_stop("again", leave=False)  # a stop that may stay changes nothing here
    assert made.state is S.HOLDING
    assert made.resume("discord:42") and not made.resume("twice")
    assert await held and made.state is S.RESUMING
    assert not made.stop.is_set() and made.reason == "" and not made.force
    assert notes[-1].startswith("resumed by discord:42")
    made.move(S.STARTING)
    made.move(S.REPAIRING)
    held = asyncio.create_task(made.hold(notes.append))
    await asyncio.sleep(0)
    made.request_stop("SIGTERM")  # a leaving stop ends the hold
    assert not await held and made.state is S.STOPPING
    assert not made.holds_after(done=False)


class ScriptedChild:
    """A training process that only exists in the test: it says its lines, then exits."""

    def __init__(self, pid: int, lines: Sequence[bytes], code: int, on_output: Callable) -> None:
        self.pid = self.pgid = pid
        self.create_time, self.started = 0.0, time.monotonic()
        self._lines, self._code, self._on_output = lines, code, on_output
        self._done = False

    @property
    def exited(self) -> bool:
        return self._done

    async def wait(self) -> ExitInfo:
        for line in self._lines:
            self._on_output("stdout", line)
        self._done = True
        return ExitInfo(returncode=self._code, signal=None)

    async def stop(self, grace_s: float) -> StopReport:
        return StopReport(signals_sent=(), escaped_killed=0, survived=0)

    def kill_now(self) -> None:
        self._done = True

    def track_descendants(self) -> int:
        return 0


class ScriptedProcesses:
    """The process seam with nothing behind it: each spawn plays the next script."""

    def __init__(self, scripts: Sequence[tuple[Sequence[bytes], int]]) -> None:
        self.scripts = list(scripts)
        self.spawned: list[tuple[list[str], Path, str]] = []

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_output: Callable[[str, bytes], None],
    ) -> ScriptedChild:
        self.spawned.append((list(argv), cwd, env["PHOENIX_TREE_ID"]))
        lines, code = self.scripts.pop(0)
        return ScriptedChild(90000 + len(self.spawned), lines, code, on_output)

    async def stop_tree(self, pid: int, **_: object) -> StopReport:
        return StopReport(signals_sent=(), escaped_killed=0, survived=0)


def test_the_engine_runs_through_the_process_seam(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings(None, train_cmd="python train.py --epochs 2")
    crash = [b"Traceback (most recent call last):\n", b"RuntimeError: boom\n"]
    processes = ScriptedProcesses([(crash, 1), ([b"epoch 2 done\n"], 0)])
    engine = Engine(s, env=os.environ, sinks=[recorder], processes=processes)
    assert engine.state is S.IDLE
    assert asyncio.run(engine.run()) == ExitCode.COMPLETED
    assert engine.state is S.EXITED and not processes.scripts
    argv, cwd, mark = processes.spawned[0]
    assert argv == ["python", "train.py", "--epochs", "2"] and cwd == s.project_dir and mark
    names = recorder.names()
    assert names.count("process_started") == 2 and names.count("failure") == 1
    assert names.index("restarting") < names.index("run_completed")
    assert [e.returncode for e in recorder.of(ev.ProcessExited)] == [1, 0]


class RecordingApprover:
    """Any approver, not only the desk, hears that Phoenix is stopping."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def approve(self, proposal: ev.PatchProposed) -> ev.Decision:
        return ev.Decision(approved=False, reason="never", by="test")

    def cancel_pending(self, reason: str) -> None:
        self.cancelled.append(reason)


def test_a_stop_before_the_run_starts_nothing_and_cancels_approvals(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(None, train_cmd="python train.py")
    processes = ScriptedProcesses([([b"never\n"], 0)])
    approver = RecordingApprover()
    engine = Engine(s, env={}, sinks=[recorder], approver=approver, processes=processes)
    engine.request_stop("SIGTERM")
    assert engine.state is S.STOPPING and approver.cancelled == ["phoenix is stopping: SIGTERM"]
    assert asyncio.run(engine.run()) == ExitCode.STOPPED
    assert processes.spawned == [] and engine.state is S.EXITED
    assert recorder.names()[-1] == "stopped" and recorder.of(ev.Stopped)[0].reason == "SIGTERM"
