"""Silent progress bars made to talk: Rich's environment on pipes, or a pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.terminal import spawn_pty, terminal_env

Make = Callable[..., Settings]

# Rich's progress bar drawn as Lightning's RichProgressBar draws it ("Epoch 0/0 ━━╸━━ 12/40
# 0:00:01 • 0:00:02 9.50it/s"): silent on a pipe until the end unless told otherwise.
RICH_BAR = """
import time
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
)
columns = [
    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
    TextColumn("•"), TimeRemainingColumn(), TextColumn("9.50it/s"),
]
with Progress(*columns) as progress:
    task = progress.add_task("Epoch 0/0", total=40)
    for i in range(40):
        time.sleep(0.1)
        progress.update(task, advance=1)
        if i == 20:
            time.sleep(4)  # a quiet stretch: silence for the heartbeat to judge
"""

MODES = [("auto", True), ("on", True), ("off", False)]


def run(engine: Engine) -> ExitCode:
    return asyncio.run(asyncio.wait_for(engine.run(), 60))


@pytest.mark.parametrize(("mode", "talks"), MODES)
def test_rich_bar_reports_progress_while_it_runs(
    make_settings: Make, recorder: Recorder, mode: str, talks: bool
) -> None:
    # heartbeat 3 s: a bar silent until the end (7 s) is killed as hung; one that talks is not
    s = make_settings(RICH_BAR, pty=mode, heartbeat_min="0.05", max_retries="0")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTY_", "FORCE_COLOR"))}
    code = run(Engine(s, env=env, sinks=[recorder]))
    if talks:
        assert code == ExitCode.COMPLETED
        assert "hang_detected" not in recorder.names()
        steps = [m.step for m in recorder.of(ev.MetricSample) if m.step is not None]
        assert steps and steps[0] < 40 and max(steps) == 40
    else:
        assert code == ExitCode.GAVE_UP  # what PHOENIX_PTY=off leaves: a false hang
        assert recorder.names().count("hang_detected") == 1


def test_terminal_env_keeps_what_the_user_set() -> None:
    assert terminal_env({"COLUMNS": "80"}, "auto") == {
        "COLUMNS": "80",
        "TTY_COMPATIBLE": "1",
        "TTY_INTERACTIVE": "1",
    }
    assert terminal_env({"A": "1"}, "off") == {"A": "1"}


def test_pty_child_sees_a_terminal_and_both_streams(tmp_path: Path) -> None:
    code = (
        "import sys; print(sys.stdout.isatty(), sys.stderr.isatty()); print('err', file=sys.stderr)"
    )
    got: list[tuple[str, bytes]] = []

    async def go() -> int | None:
        child = await spawn_pty(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=dict(os.environ),
            on_output=lambda s, d: got.append((s, d)),
        )
        info = await child.wait()
        return info.returncode

    assert asyncio.run(go()) == 0
    text = b"".join(d for _, d in got)
    assert text == b"True True\nerr\n"  # no CRLF translation
    assert {s for s, _ in got} == {"stdout"}
