"""The default repairer is made at the first repair: a night with none never imports it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from engine_support import PY, Recorder

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode

Make = Callable[..., Settings]
REPAIR_STACK = (
    "httpx",
    "phoenix_engine.repair",
    "phoenix_engine.llm.chain",
    "phoenix_engine.io.shadow",
)

NIGHT = """
import json, sys
from phoenix_tui.cli import main
sys.argv = ["phoenix", "--unattended", "-C", sys.argv[1], "--train-cmd", sys.argv[2]]
try:
    code = main()
except SystemExit as end:
    code = end.code
stack = [m for m in {stack!r} if m in sys.modules]
print("IMPORTED " + json.dumps({{"code": code, "stack": stack}}), file=sys.stderr)
"""


def night(project: Path, train: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    env.update(PHOENIX_PATCH_MODE="auto", PHOENIX_PRIMARY="builtin", PHOENIX_COOLDOWN_SECONDS="0")
    env.update(PHOENIX_MAX_RETRIES="1", PHOENIX_MAX_RESTARTS="1")
    done = subprocess.run(
        [sys.executable, "-c", NIGHT.format(stack=REPAIR_STACK), str(project), train],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("IMPORTED ")]
    found: dict[str, object] = json.loads(line.removeprefix("IMPORTED "))
    return found


def test_a_night_without_a_repair_never_imports_the_repair_stack(tmp_path: Path) -> None:
    assert night(tmp_path, f"{PY} -c pass") == {"code": 0, "stack": []}


def test_the_first_repair_imports_it(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import sys\nprint(undefined_name)\n")
    found = night(tmp_path, f"{PY} train.py")
    assert sorted(found["stack"]) == sorted(REPAIR_STACK)  # type: ignore[arg-type]


def test_the_sandbox_is_still_probed_at_the_start(make_settings: Make, tmp_path: Path) -> None:
    """A test command in auto mode: a sandbox that cannot run is said before the training
    starts, not at the first repair (here bwrap cannot be found on the child's PATH)."""
    recorder = Recorder()
    s = make_settings("print('ok')\n", patch_mode="auto", test_cmd=f"{PY} -c pass")
    desk = ApprovalDesk("auto", default="auto")
    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    engine = Engine(s, env=env, sinks=[recorder], approver=desk)
    assert asyncio.run(asyncio.wait_for(engine.run(), 30)) == ExitCode.COMPLETED
    said = [e for e in recorder.events if isinstance(e, ev.Notice) and "not sandboxed" in e.message]
    assert len(said) == 1
    order = recorder.events.index(said[0])
    started = next(i for i, e in enumerate(recorder.events) if isinstance(e, ev.ProcessStarted))
    assert order < started
