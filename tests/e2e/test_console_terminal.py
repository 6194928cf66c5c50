"""The real `phoenix` in tmux at 80x24: the stop dialog shows all of its text and its keys,
the stop shows its escalation, a stopped training resumes with `u`, and `q` then asks."""

from __future__ import annotations

import sys
from pathlib import Path

from cli_support import PHOENIX
from test_console_tmux import Tmux, tmux  # noqa: F401 (the fixture)

SLEEPER = """\
import signal, time
print('step 1 loss 0.5', flush=True)
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a training that takes its time to stop
time.sleep(600)
"""


def test_stop_dialog_escalation_and_resume_in_a_small_terminal(
    tmux: Tmux,  # noqa: F811
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(SLEEPER)
    tmux.env.update(PHOENIX_KILL_GRACE_SEC="3", PHOENIX_TRAIN_CMD=f"{sys.executable} train.py")
    command = f"{PHOENIX} -C {project}; echo PHOENIX-EXIT=$?; sleep 30"
    tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "console", command)
    screen = tmux.wait_for("step 1 loss 0.5", "running")
    assert "closing this terminal" not in screen  # inside tmux: no warning
    assert "attempt" not in screen.splitlines()[0]  # a healthy run: no attempt 0/3
    tmux("send-keys", "-t", "console", "s")
    screen = tmux.wait_for("Stop the training?", "Stop [y]", "Cancel [n]")
    assert "The console stays open." in screen  # the whole explanation, not one line
    tmux("send-keys", "-t", "console", "y")
    tmux.wait_for("SIGINT sent", "q kills now")
    screen = tmux.wait_for("■ stopped", "u resumes", "u Resume", timeout=30)
    assert "u Resume" in screen.splitlines()[-1] and "s Stop" not in screen
    tmux("send-keys", "-t", "console", "u")
    screen = tmux.wait_for("● running", "resumed by operator")
    assert "stopped: stopped by the operator" not in screen  # the detail forgot the stop
    tmux("send-keys", "-t", "console", "q")
    tmux.wait_for("Stop the training and quit?", "Quit [y]")
    tmux("send-keys", "-t", "console", "y")
    tmux.wait_for("PHOENIX-EXIT=4", timeout=30)


def test_outside_tmux_the_console_warns_that_closing_the_terminal_stops_the_run(
    tmux: Tmux,  # noqa: F811
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("import time\nprint('step 1', flush=True)\ntime.sleep(600)\n")
    tmux.env.update(PHOENIX_KILL_GRACE_SEC="1", PHOENIX_TRAIN_CMD=f"{sys.executable} train.py")
    command = f"env -u TMUX -u STY {PHOENIX} -C {project}; echo PHOENIX-EXIT=$?; sleep 30"
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "console", command)
    screen = tmux.wait_for("step 1", "closing this terminal")
    assert "--unattended" in screen
    tmux("send-keys", "-t", "console", "q")
    tmux.wait_for("Stop the training and quit?")
    tmux("send-keys", "-t", "console", "y")
    tmux.wait_for("PHOENIX-EXIT=4", timeout=30)
