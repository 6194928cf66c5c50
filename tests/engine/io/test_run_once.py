"""run_to_completion: the end is the exit, and nothing the command started outlives it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest
from waiting import until

from phoenix_engine.io.run_once import run_to_completion
from phoenix_engine.io.supervisor import SpawnError

pytestmark = pytest.mark.timeout(30)

# The command prints, leaves a setsid grandchild holding its stdout, and exits.
LEAVES_A_DAEMON = (
    "import os, subprocess, sys\n"
    "kid = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
    " start_new_session=True)\n"
    "print('kid', kid.pid, flush=True)\n"
    "sys.stderr.write('bye\\n')\n"
)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_an_exit_ends_it_and_the_daemon_left_behind_dies(tmp_path: Path) -> None:
    started = time.monotonic()
    done = await run_to_completion(
        [sys.executable, "-c", LEAVES_A_DAEMON], cwd=tmp_path, env=os.environ, timeout_s=30
    )
    assert time.monotonic() - started < 10  # not the 60 s the daemon holds stdout for
    assert done.returncode == 0 and not done.overflowed
    assert done.stderr == b"bye\n"
    kid = int(done.stdout.split()[1])
    await until(lambda: gone(kid), 5, what=f"the daemon {kid} to end")
    assert gone(kid)


async def test_stdin_merged_stderr_and_a_kept_tail(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "data = sys.stdin.read()\n"
        "sys.stderr.write('err:' + data)\n"
        "sys.stderr.flush()\n"
        "print('x' * 5000 + 'END', end='')\n"
    )
    done = await run_to_completion(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=os.environ,
        timeout_s=30,
        stdin=b"hello",
        max_stdout=100,
        keep_tail=True,
        merge_stderr=True,
    )
    assert done.returncode == 0 and not done.overflowed
    assert len(done.stdout) == 100 and done.stdout.endswith(b"xEND")
    assert done.stderr == b""


async def test_a_flood_and_a_hang_are_killed(tmp_path: Path) -> None:
    flood = "import sys\nwhile True: sys.stdout.write('y' * 65536)\n"
    done = await run_to_completion(
        [sys.executable, "-c", flood], cwd=tmp_path, env=os.environ, timeout_s=30, max_stdout=1000
    )
    assert done.overflowed and done.returncode is not None and done.returncode < 0
    hang = "import time\nprint('up', flush=True)\ntime.sleep(60)\n"
    done = await run_to_completion(
        [sys.executable, "-c", hang], cwd=tmp_path, env=os.environ, timeout_s=1.0
    )
    assert done.returncode is None and done.stdout == b"up\n"


async def test_a_command_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(SpawnError, match="no-such-binary"):
        await run_to_completion(["no-such-binary"], cwd=tmp_path, env=os.environ, timeout_s=5)
