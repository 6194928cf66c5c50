"""Process trees that cannot hide: a double-forked daemon of the training (or of a model
command) is found by its mark and never survives a stop, a hang kill or the orphan reaping."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from engine_support import PY, Recorder
from fakes.processes import alive
from waiting import until, until_sync

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.io import proctree
from phoenix_engine.io.state_store import ChildRecord, Ledger, StateStore
from phoenix_engine.io.supervisor import spawn, stop_tree
from phoenix_engine.llm._proc import run_command

pytestmark = pytest.mark.timeout(30)

# Leaves a daemon (setsid + double fork, stdio on /dev/null) that writes its pid, then
# sleeps (or exits with 'exit'); the daemon itself sleeps 300 s.
DOUBLE_FORK = """
import os, sys, time
pidfile = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        with open(pidfile + '.tmp', 'w') as fh:
            fh.write(str(os.getpid()))
        os.replace(pidfile + '.tmp', pidfile)
        time.sleep(300)
    os._exit(0)
os.wait()
print('daemon started', flush=True)
if 'exit' not in sys.argv:
    time.sleep(300)
"""

Make = Callable[..., Settings]


def daemon_pid(pidfile: Path, timeout: float = 10.0) -> int:
    until_sync(pidfile.exists, timeout, what="the daemon to start")
    return int(pidfile.read_text())


def assert_gone(pid: int, timeout: float = 3.0) -> None:
    try:
        until_sync(lambda: not alive(pid), timeout, what=f"process {pid} to end")
    except AssertionError:
        os.kill(pid, 9)
        pytest.fail(f"process {pid} survived")


def test_marked_finds_a_double_forked_daemon_and_nothing_else(tmp_path: Path) -> None:
    mark = proctree.new_mark()
    pidfile = tmp_path / "daemon.pid"
    env = {**os.environ, proctree.MARK_ENV: mark}
    subprocess.run([PY, "-c", DOUBLE_FORK, str(pidfile), "exit"], env=env, check=True)
    pid = daemon_pid(pidfile)
    try:
        assert psutil.Process(pid).ppid() != os.getpid()  # left the tree entirely
        assert set(proctree.marked(mark)) == {pid}
        assert proctree.marked(proctree.new_mark()) == {}
        assert proctree.kill_all(proctree.marked(mark)) == 1
        assert_gone(pid)
    finally:
        if alive(pid):
            os.kill(pid, 9)


def test_stopping_the_training_kills_its_double_forked_daemon(tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"

    async def scenario() -> int:
        env = {**os.environ, proctree.MARK_ENV: proctree.new_mark()}
        child = await spawn(
            [PY, "-c", DOUBLE_FORK, str(pidfile)], cwd=tmp_path, env=env, on_output=print
        )
        pid = await asyncio.to_thread(daemon_pid, pidfile)
        report = await child.stop(0.3)
        assert report.survived == 0
        return pid

    assert_gone(asyncio.run(scenario()))


def test_orphan_reaping_finds_the_daemon_of_a_dead_training_by_its_mark(tmp_path: Path) -> None:
    """The Phoenix that started the training died, the training too; its daemon lives on."""
    mark = proctree.new_mark()
    pidfile = tmp_path / "daemon.pid"
    env = {**os.environ, proctree.MARK_ENV: mark}
    leader = subprocess.run([PY, "-c", DOUBLE_FORK, str(pidfile), "exit"], env=env, check=True)
    pid = daemon_pid(pidfile)
    assert leader.returncode == 0 and alive(pid)
    dead = 2**22 - 3  # a pid that is not running
    report = asyncio.run(stop_tree(dead, grace_s=0.3, create_time=1.0, pgid=None, mark=mark))
    assert report.escaped_killed == 1
    assert_gone(pid)


def test_engine_reaps_the_orphaned_daemon_recorded_in_state(
    make_settings: Make, recorder: Recorder, tmp_path: Path
) -> None:
    s = make_settings("print('fresh run')\n")
    mark = proctree.new_mark()
    pidfile = tmp_path / "daemon.pid"
    env = {**os.environ, proctree.MARK_ENV: mark}
    leader = subprocess.Popen([PY, "-c", DOUBLE_FORK, str(pidfile), "exit"], env=env)
    ctime = psutil.Process(leader.pid).create_time()
    pid = daemon_pid(pidfile)
    leader.wait()
    s.state_dir.mkdir(parents=True, exist_ok=True)
    record = ChildRecord(pid=leader.pid, pgid=leader.pid, create_time=ctime, command="x", mark=mark)
    StateStore(s.state_dir).save(Ledger(child=record))
    assert asyncio.run(Engine(s, env=os.environ, sinks=[recorder]).run()) == ExitCode.COMPLETED
    assert_gone(pid)
    assert recorder.names()[0] == "orphan_reaped"


@pytest.mark.parametrize("how", ["stop", "hang", "exit"])
def test_no_daemon_of_the_training_survives(
    make_settings: Make, recorder: Recorder, tmp_path: Path, how: str
) -> None:
    pidfile = tmp_path / "daemon.pid"
    (tmp_path / "leaver.py").write_text(DOUBLE_FORK)
    args = f"{pidfile}" + (" exit" if how == "exit" else "")
    s = make_settings(heartbeat_min="0.01" if how == "hang" else "0", max_retries="0")
    s = dataclasses.replace(s, train_cmd=f"{PY} leaver.py {args}")
    engine = Engine(s, env=os.environ, sinks=[recorder])

    async def scenario() -> ExitCode:
        task = asyncio.ensure_future(engine.run())
        pid = await asyncio.to_thread(daemon_pid, pidfile)
        if how == "stop":
            log = s.state_dir / "train.log"  # the leader is past its forks, in its long sleep
            await until(lambda: log.exists() and "daemon started" in log.read_text(), 10)
            engine.request_stop("test")
        code = await asyncio.wait_for(task, 20)
        assert_gone(pid)
        return code

    code = asyncio.run(scenario())
    assert (
        code
        == {"stop": ExitCode.STOPPED, "hang": ExitCode.GAVE_UP, "exit": ExitCode.COMPLETED}[how]
    )
    if how == "hang":
        assert recorder.of(ev.HangDetected)


def test_cancelled_model_command_is_killed_at_once_with_its_daemon(tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"

    async def scenario() -> tuple[float, int]:
        call = asyncio.ensure_future(
            run_command(
                [PY, "-c", DOUBLE_FORK, str(pidfile)],
                stdin=b"prompt",
                cwd=tmp_path,
                env=os.environ,
                timeout_s=300,
                max_stdout=1 << 20,
            )
        )
        pid = await asyncio.to_thread(daemon_pid, pidfile)
        started = time.monotonic()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        return time.monotonic() - started, pid

    took, pid = asyncio.run(scenario())
    assert took < 5
    assert_gone(pid)
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(pidfile) in str(p.info)]
    assert [p for p in leftovers if alive(p.pid)] == []


SUBREAPER = """
import os, sys, time
from phoenix_engine.io import proctree
assert proctree.become_subreaper()
pidfile = sys.argv[1]
os.environ.pop(proctree.MARK_ENV, None)
import subprocess
subprocess.run([sys.executable, '-c', sys.argv[2], pidfile, 'exit'], env={'PATH': ''}, check=True)
while not os.path.exists(pidfile):
    time.sleep(0.01)
pid = int(open(pidfile).read())
found = proctree.adopted()
assert pid in found, (pid, found)
proctree.kill_all(found)
deadline = time.time() + 5
while proctree.reap() == 0 and time.time() < deadline:
    time.sleep(0.01)
try:
    os.kill(pid, 0)
    print('still there')
except ProcessLookupError:
    print('reaped')
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_as_subreaper_an_unmarked_orphan_is_adopted_found_and_reaped(tmp_path: Path) -> None:
    """A daemon that dropped its environment is still found, and leaves no zombie."""
    pidfile = tmp_path / "daemon.pid"
    out = subprocess.run(
        [PY, "-c", SUBREAPER, str(pidfile), DOUBLE_FORK],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "reaped"


def test_only_the_exact_mark_matches(tmp_path: Path) -> None:
    mark = proctree.new_mark()
    near = {"X" + proctree.MARK_ENV: mark, proctree.MARK_ENV: mark + "0"}
    proc = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"], env=near)
    try:
        # until the exec has given it its environment
        until_sync(lambda: proctree.marked(mark + "0"), 5, what="the marked process")
        assert set(proctree.marked(mark + "0")) == {proc.pid}
        assert proctree.marked(mark) == {}
    finally:
        proc.kill()
        proc.wait()


NO_STEAL = """
import subprocess, sys, time
import psutil
from phoenix_engine.io import proctree
assert proctree.become_subreaper()
proc = subprocess.Popen([sys.executable, '-c', 'raise SystemExit(7)'])
proctree.spawned(proc.pid)  # its owner waits for it (asyncio's watcher, or here Popen)
deadline = time.time() + 10
while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
    time.sleep(0.01)
print('reaped', proctree.reap())
print('exit', proc.wait())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_the_subreaper_never_reaps_a_child_that_asyncio_waits_for() -> None:
    out = subprocess.run([PY, "-c", NO_STEAL], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["reaped", "0", "exit", "7"]
