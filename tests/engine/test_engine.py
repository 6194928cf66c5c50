"""The engine end to end with real child processes: events in order, budgets, stops."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import psutil
import pytest
from engine_support import Recorder
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.core.command_line import shell_argv
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode, LockHeldError, StateError
from phoenix_engine.io.state_store import ChildRecord, Ledger, StateStore

Make = Callable[..., Settings]

CRASH_ONCE = """
from pathlib import Path
print("step 1 loss 0.9", flush=True)
marker = Path("crashed")
if not marker.exists():
    marker.write_text("1")
    raise RuntimeError("transient failure at step 1")
print("step 2 loss 0.5")
"""

ALWAYS_CRASH = """
import os
print("starting", os.getpid())
raise ValueError(f"bad value {os.getpid()}")
"""


def run(engine: Engine) -> ExitCode:
    return asyncio.run(asyncio.wait_for(engine.run(), 30))


async def wait_for_output(settings: Settings, text: str) -> None:
    log = settings.state_dir / "train.log"
    await until(
        lambda: log.exists() and text in log.read_text(errors="replace"),
        10,
        what=f"{text!r} in train.log",
    )


def test_clean_run_completes_and_keeps_the_log(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("print('step 1 loss 0.5')\nprint('done')\n")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    assert recorder.names() == ["run_started", "process_started", "process_exited", "run_completed"]
    assert (s.state_dir / "train.log").read_text() == "step 1 loss 0.5\ndone\n"
    journal = [json.loads(x) for x in (s.state_dir / "run.log").read_text().splitlines()]
    assert [row["event"] for row in journal] == recorder.names()
    assert all(row["ts"].endswith("Z") for row in journal)


def test_crash_is_classified_and_restarted(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings(CRASH_ONCE)
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    assert recorder.names() == [
        "run_started",
        "process_started",
        "process_exited",
        "failure",
        "restarting",
        "process_started",
        "process_exited",
        "run_completed",
    ]
    (failure,) = recorder.of(ev.Failure)
    assert failure.kind == "exception"
    assert failure.exc_type == "RuntimeError"
    assert failure.location == "train.py:<module>"
    (restart,) = recorder.of(ev.Restarting)
    assert (restart.attempt, restart.max_attempts, restart.restarts_used) == (1, 3, 1)
    assert recorder.of(ev.ProcessStarted)[1].attempt == 2
    # a completed run clears the budgets
    assert StateStore(s.state_dir).load()[0] == Ledger()


def test_same_failure_gives_up_after_max_retries(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings(ALWAYS_CRASH, max_retries="2")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    names = recorder.names()
    assert names.count("failure") == 3 and names.count("restarting") == 2
    assert names[-1] == "gave_up"
    failures = recorder.of(ev.Failure)
    assert len({f.signature for f in failures}) == 1  # the PID in the message is normalised
    assert "PHOENIX_MAX_RETRIES=2" in recorder.of(ev.GaveUp)[0].reason


def test_budgets_survive_a_restart_of_phoenix(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings(ALWAYS_CRASH, max_retries="1")
    assert run(Engine(s, env=os.environ, sinks=[Recorder()])) == ExitCode.GAVE_UP
    # systemd starts phoenix again: the same failure has no attempts left
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    assert "restarting" not in recorder.names()
    StateStore(s.state_dir).clear_budgets()  # what `phoenix reset` does
    again = Recorder()
    assert run(Engine(s, env=os.environ, sinks=[again])) == ExitCode.GAVE_UP
    assert again.names().count("restarting") == 1


def test_alternating_failures_hit_the_total_cap(make_settings: Make, recorder: Recorder) -> None:
    script = """
from pathlib import Path
p = Path("n"); n = int(p.read_text()) if p.exists() else 0; p.write_text(str(n + 1))
raise (KeyError if n % 2 else ValueError)("alternating")
"""
    s = make_settings(script, max_retries="50", max_restarts="3")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    assert recorder.names().count("restarting") == 3
    assert "PHOENIX_MAX_RESTARTS=3" in recorder.of(ev.GaveUp)[0].reason


def test_hang_is_detected_stopped_and_classified(make_settings: Make, recorder: Recorder) -> None:
    script = "import time\nprint('step 5/100 loss 0.7', flush=True)\ntime.sleep(60)\n"
    s = make_settings(script, heartbeat_min="0.01", max_retries="0")  # 0.6 s of silence
    started = time.monotonic()
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    assert time.monotonic() - started < 10
    assert recorder.names()[:5] == [
        "run_started",
        "process_started",
        "hang_detected",
        "process_exited",
        "failure",
    ]
    (hang,) = recorder.of(ev.HangDetected)
    assert hang.silent_s >= 0.6 and hang.last_line == "step 5/100 loss 0.7"
    assert recorder.of(ev.Failure)[0].kind == "hang"
    pid = recorder.of(ev.ProcessStarted)[0].pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_startup_silence_allows_longer_than_the_heartbeat(
    make_settings: Make, recorder: Recorder
) -> None:
    script = "import time\ntime.sleep(1.0)\nprint('loaded', flush=True)\n"
    s = make_settings(script, heartbeat_min="0.01", heartbeat_startup_min="0.05")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    assert "hang_detected" not in recorder.names()


def test_stop_request_stops_the_tree_and_exits_4(make_settings: Make, recorder: Recorder) -> None:
    token = f"stubborn-{uuid.uuid4().hex}"  # this test's grandchild, not another run's
    script = f"""
import subprocess, sys, time
code = "import signal, time; signal.signal(15, signal.SIG_IGN); time.sleep(60) # {token}"
subprocess.Popen([sys.executable, "-c", code])
print("running", flush=True)
time.sleep(60)
"""
    s = make_settings(script)
    engine = Engine(s, env=os.environ, sinks=[recorder])

    async def scenario() -> ExitCode:
        task = asyncio.create_task(engine.run())
        await wait_for_output(s, "running")
        engine.request_stop("operator pressed s")
        return await asyncio.wait_for(task, 20)

    assert asyncio.run(scenario()) == ExitCode.STOPPED
    assert recorder.names()[-1] == "stopped"
    assert recorder.of(ev.Stopped)[0].reason == "operator pressed s"
    pid = recorder.of(ev.ProcessStarted)[0].pid
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if token in " ".join(p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert leftovers == [], f"survivors of {pid}: {leftovers}"


def test_orphan_left_by_a_killed_phoenix_is_reaped(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("print('fresh run')\n")
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        record = ChildRecord(
            pid=orphan.pid,
            pgid=orphan.pid,
            create_time=psutil.Process(orphan.pid).create_time(),
            command="python train.py",
        )
        s.state_dir.mkdir(parents=True, exist_ok=True)
        StateStore(s.state_dir).save(Ledger(child=record))
        assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
        assert orphan.wait(timeout=5) is not None
    finally:
        orphan.kill()
    assert recorder.names()[0] == "orphan_reaped"
    assert recorder.of(ev.OrphanReaped)[0].pid == orphan.pid


def test_recycled_pid_in_state_is_left_alone(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("print('ok')\n")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = ChildRecord(pid=bystander.pid, pgid=bystander.pid, create_time=1.0, command="x")
        s.state_dir.mkdir(parents=True, exist_ok=True)
        StateStore(s.state_dir).save(Ledger(child=record))
        assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
        assert bystander.poll() is None  # not ours: never signalled
    finally:
        bystander.kill()
        bystander.wait()
    assert "orphan_reaped" not in recorder.names()


@pytest.mark.parametrize("command", ["no-such-command-phoenix-xyz --flag", "./missing.sh"])
def test_command_that_cannot_start_is_never_retried(
    make_settings: Make, recorder: Recorder, command: str
) -> None:
    s = make_settings(train_cmd=command)
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.USAGE
    assert recorder.names() == ["run_started", "failure", "gave_up"]
    failure = recorder.of(ev.Failure)[0]
    assert failure.kind == "launch" and not failure.repairable


def test_command_not_found_under_a_shell_is_a_launch_failure(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(train_cmd="no-such-command-phoenix-xyz && echo never")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.USAGE
    assert recorder.of(ev.Failure)[0].kind == "launch"
    assert "restarting" not in recorder.names()


def test_second_engine_on_the_same_project_is_refused(make_settings: Make) -> None:
    s = make_settings("import time\nprint('x', flush=True)\ntime.sleep(30)\n")
    first = Engine(s, env=os.environ)

    async def scenario() -> None:
        task = asyncio.create_task(first.run())
        await wait_for_output(s, "x")  # the training runs: the first engine holds the lock
        with pytest.raises(LockHeldError):
            await Engine(s, env=os.environ).run()
        first.request_stop("test over", force=True)
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())


def test_secrets_are_masked_in_train_log_and_journal(
    make_settings: Make, recorder: Recorder
) -> None:
    script = (
        "import os\nprint('key is', os.environ['MY_API_KEY'])\n"
        "raise SystemExit(os.environ['MY_API_KEY'])\n"
    )
    s = make_settings(script, max_retries="0")
    env = {**os.environ, "MY_API_KEY": "sk-live-abcdef123456"}
    assert run(Engine(s, env=env, sinks=[recorder])) == ExitCode.GAVE_UP
    for name in ("train.log", "run.log"):
        text = (s.state_dir / name).read_text()
        assert "sk-live-abcdef123456" not in text
        assert "[REDACTED]" in text


def test_output_lines_are_delivered_with_carriage_returns_applied(
    make_settings: Make, recorder: Recorder
) -> None:
    script = (
        "import sys\nsys.stdout.write('10%\\r50%\\r100%\\n')\n"
        "sys.stderr.write('warn\\n')\nsys.stdout.write('tail without newline')\n"
    )
    s = make_settings(script)
    assert run(Engine(s, env=os.environ, sinks=[recorder], want_lines=True)) == ExitCode.COMPLETED
    lines = {(e.stream, line) for e in recorder.of(ev.OutputLines) for line in e.lines}
    assert lines == {("stdout", "100%"), ("stderr", "warn"), ("stdout", "tail without newline")}
    log = (s.state_dir / "train.log").read_bytes()
    assert b"10%\r50%\r100%\n" in log and b"warn\n" in log and b"tail without newline" in log


def test_tee_receives_the_output(make_settings: Make) -> None:
    chunks: list[bytes] = []
    s = make_settings("print('a')\nprint('b')\n")
    assert run(Engine(s, env=os.environ, tee=chunks.append)) == ExitCode.COMPLETED
    assert b"".join(chunks) == b"a\nb\n"


@pytest.mark.parametrize(
    ("command", "argv", "via_shell"),
    [
        ("python train.py --lr 3e-4", ["python", "train.py", "--lr", "3e-4"], False),
        ("python 'my train.py'", ["python", "my train.py"], False),
        ("source venv/bin/activate && python t.py", None, True),
        ("python t.py | tee x", None, True),
        ("CUDA_VISIBLE_DEVICES=0 python t.py > out", None, True),
    ],
)
def test_shell_argv(command: str, argv: list[str] | None, via_shell: bool) -> None:
    got, shell = shell_argv(command)
    assert shell is via_shell
    assert got == (argv if argv is not None else ["/bin/sh", "-c", command])


def test_a_second_stop_request_forces_the_kill(make_settings: Make) -> None:
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGINT, lambda *_: open('got-sigint', 'w').close())\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('x', flush=True)\ntime.sleep(60)\n"
    )
    s = make_settings(script, kill_grace_sec="30")
    engine = Engine(s, env=os.environ)

    async def scenario() -> ExitCode:
        task = asyncio.create_task(engine.run())
        await wait_for_output(s, "x")
        engine.request_stop("first signal")
        got_sigint = s.project_dir / "got-sigint"  # the graceful stop is under way
        await until(got_sigint.exists, 5, what="the first stop's SIGINT")
        engine.request_stop("second signal")
        return await asyncio.wait_for(task, 10)

    started = time.monotonic()
    assert asyncio.run(scenario()) == ExitCode.STOPPED
    assert time.monotonic() - started < 8  # far less than the 30 s grace


def test_first_output_switches_to_the_shorter_heartbeat(
    make_settings: Make, recorder: Recorder
) -> None:
    script = "import time\nprint('loaded', flush=True)\ntime.sleep(60)\n"
    # 0.6 s heartbeat, 12 s start-up allowance: the hang must be seen at the heartbeat
    s = make_settings(script, heartbeat_min="0.01", heartbeat_startup_min="0.2", max_retries="0")
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.GAVE_UP
    (hang,) = recorder.of(ev.HangDetected)
    assert 0.6 <= hang.silent_s < 6


def test_processes_left_behind_by_an_exited_training_are_stopped(
    make_settings: Make, recorder: Recorder
) -> None:
    script = """
import os, subprocess, sys
code = "import os, time; os.setsid(); print(os.getpid(), flush=True); time.sleep(60)"
child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
print("escaped", child.stdout.readline().strip(), flush=True)
import time; time.sleep(2.5)  # long enough for the engine to see its descendants
"""
    s = make_settings(script)
    assert run(Engine(s, env=os.environ, sinks=[recorder])) == ExitCode.COMPLETED
    log = (s.state_dir / "train.log").read_text()
    pid = int(log.split("escaped ")[1].split()[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert any("left processes behind" in n.message for n in recorder.of(ev.Notice))


class FullDiskStore(StateStore):
    """A state store on a full disk: loading works, every save fails."""

    def save(self, ledger: Ledger) -> None:
        raise StateError(f"cannot write {self.path}: No space left on device")


def test_full_disk_for_state_json_is_a_notice_not_a_crash(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(CRASH_ONCE)
    s.state_dir.mkdir(parents=True)
    store = FullDiskStore(s.state_dir)
    assert run(Engine(s, env=os.environ, sinks=[recorder], store=store)) == ExitCode.COMPLETED
    notices = [n.message for n in recorder.of(ev.Notice)]
    assert len(notices) == 1 and "No space left on device" in notices[0]
    assert recorder.names().count("restarting") == 1


class BrokenRepairer:
    async def repair(self, failure: object, tail: object, ledger: object, **_: object) -> str:
        raise KeyError("a bug in the repair step")


def test_a_crashing_repair_step_is_a_notice_and_the_run_goes_on(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(CRASH_ONCE, patch_mode="auto")
    engine = Engine(s, env=os.environ, sinks=[recorder], repairer=BrokenRepairer())
    assert run(engine) == ExitCode.COMPLETED
    assert any("repair step failed" in n.message for n in recorder.of(ev.Notice))
    assert recorder.of(ev.Restarting)[0].reason == "repair step failed: restart without changes"


def test_cancelling_the_engine_never_leaves_the_training_running(make_settings: Make) -> None:
    s = make_settings("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    recorder = Recorder()
    engine = Engine(s, env=os.environ, sinks=[recorder])

    async def scenario() -> None:
        task = asyncio.create_task(engine.run())
        await wait_for_output(s, "up")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    pid = recorder.of(ev.ProcessStarted)[0].pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_remote_stop_holds_and_resume_restarts(make_settings: Make, recorder: Recorder) -> None:
    script = """
import time
from pathlib import Path
marker = Path("second")
if marker.exists():
    print("second run, finishing", flush=True)
else:
    marker.write_text("1")
    print("first run, long", flush=True)
    time.sleep(60)
"""
    s = make_settings(script)
    engine = Engine(s, env=os.environ, sinks=[recorder], hold_after_end=True)

    async def scenario() -> ExitCode:
        task = asyncio.create_task(engine.run())
        await wait_for_output(s, "first run")
        assert not engine.resume()  # nothing to resume while training runs
        engine.request_stop("!stop from discord:42", leave=False)
        await until(lambda: engine.holding, 10, what="holding")
        assert engine.resume(by="discord:42")
        return await asyncio.wait_for(task, 20)

    assert asyncio.run(scenario()) == ExitCode.COMPLETED
    names = recorder.names()
    assert names.count("process_started") == 2
    assert names.index("stopped") < names.index("run_completed")
    assert any("resumed by discord:42" in n.message for n in recorder.of(ev.Notice))


def test_holding_after_give_up_ends_on_a_leaving_stop(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(ALWAYS_CRASH, max_retries="0")
    engine = Engine(s, env=os.environ, sinks=[recorder], hold_after_end=True)

    async def scenario() -> ExitCode:
        task = asyncio.create_task(engine.run())
        await until(lambda: engine.holding, 10, what="holding")
        assert engine.resume(by="discord:42")  # budgets cleared: it tries once more
        await until(
            lambda: engine.holding and recorder.names().count("gave_up") == 2,
            10,
            what="holding after the second give-up",
        )
        engine.request_stop("SIGTERM")  # a signal always leaves
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(scenario()) == ExitCode.GAVE_UP
    assert recorder.names().count("process_started") == 2


class FailingService:
    async def run(self) -> None:
        raise OSError("AF_UNIX path too long")

    async def aclose(self) -> None:
        return None


def test_a_service_that_dies_says_why(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("import time\ntime.sleep(0.3)\nprint('done')\n")
    engine = Engine(s, env=os.environ, sinks=[recorder])
    engine.add_service(FailingService())
    assert run(engine) == ExitCode.COMPLETED
    messages = [n.message for n in recorder.of(ev.Notice)]
    assert "a background service stopped: OSError: AF_UNIX path too long" in messages


def test_output_never_precedes_process_started(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("print('first words', flush=True)\n")
    for _ in range(5):  # the race is timing-dependent: try a few times
        recorder.events.clear()
        assert run(Engine(s, env=os.environ, sinks=[recorder], want_lines=True)) == 0
        kinds = [type(e) for e in recorder.events]
        assert kinds.index(ev.ProcessStarted) < kinds.index(ev.OutputLines)
