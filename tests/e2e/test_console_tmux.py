"""The real `phoenix demo` in a real terminal (tmux): the operator accepts both repairs.

The console opens on the demo, the typo fix waits with its diff on screen, `a` accepts it,
the out-of-memory fix waits, `a` again, the training completes, `q` quits with code 0.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from cli_support import PHOENIX, user_env
from waiting import until_sync

_SERVERS = itertools.count()
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, socket: str, env: dict[str, str], conf: Path) -> None:
        # remain-on-exit: a command that ends early leaves its last screen to be read
        conf.write_text("set -g remain-on-exit on\n")
        self.base = ["tmux", "-L", socket, "-f", str(conf)]
        self.env = env

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], env=self.env, capture_output=True, text=True, timeout=10
        )
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "console")

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """The screen once every one of ``texts`` is on it (polled every 0.1 s)."""
        screen = ""

        def shown() -> bool:
            nonlocal screen
            screen = self.screen()
            return all(text in screen for text in texts)

        why = lambda: f"{texts!r} all on the screen; the screen was:\n{screen}"  # noqa: E731
        until_sync(shown, timeout, what=why, interval=0.1)
        return screen


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    env = user_env(TMPDIR=str(tmp_path), TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    # one server per test: a server still dying from the last test must not take our session
    socket = f"phoenix-test-{os.getpid()}-{next(_SERVERS)}"
    server = Tmux(socket, env, tmp_path / "tmux.conf")
    try:
        yield server
    finally:
        server("kill-server")


def test_operator_accepts_both_demo_repairs_in_a_terminal(tmux: Tmux) -> None:
    command = f"{PHOENIX} demo; echo PHOENIX-EXIT=$?; sleep 30"
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "console", command)
    screen = tmux.wait_for("awaiting approval", "+    return 0.5 * learning_rate")
    assert "-    return 0.5 * lerning_rate" in screen and "GPU · simulated" in screen
    tmux("send-keys", "-t", "console", "a")
    tmux.wait_for("awaiting approval", "+batch_size = 32")
    tmux("send-keys", "-t", "console", "a")
    screen = tmux.wait_for("✔ completed")
    assert "training completed" in screen
    tmux("send-keys", "-t", "console", "q")
    screen = tmux.wait_for("PHOENIX-EXIT=0", timeout=30)  # no question: the run is over
    # the console gone, the terminal keeps how the night went and where its picture is
    assert ": completed" in screen and "restarts: 2, repairs: 2" in screen
    assert "phoenix: the picture of run" in screen


def test_a_terminal_that_hangs_up_stops_the_training_and_phoenix_exits(
    tmux: Tmux, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(
        "import time\nprint('step 1 loss 0.5', flush=True)\ntime.sleep(600)\n"
    )
    tmux.env.update(PHOENIX_KILL_GRACE_SEC="1", PHOENIX_TRAIN_CMD=f"{sys.executable} train.py")
    tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "console", PHOENIX, "-C", str(project))
    tmux.wait_for("step 1 loss 0.5", "running")
    phoenix = psutil.Process(int(tmux("display-message", "-p", "-t", "console", "#{pane_pid}")))
    training = phoenix.children(recursive=True)
    assert training, "the training should be running under phoenix"
    tmux("kill-server")  # the terminal goes away: SIGHUP, and every write to it fails
    gone, alive = psutil.wait_procs([phoenix, *training], timeout=20)
    for proc in alive:  # leave nothing behind, even when the test fails
        proc.kill()
    assert alive == [], f"still running after the hang-up: {alive}"
    assert phoenix.pid in {p.pid for p in gone}
    journal = (project / ".phoenix_cli" / "run.log").read_text()
    assert '"event": "stopped"' in journal and "SIGHUP" in journal
