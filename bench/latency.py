"""Reaction times: crash -> process_exited event, and silence -> hang_detected.

The crashing child prints its own clock just before ``os._exit(1)``; the latency is the
event's timestamp minus that. The baseline is the same child under a bare
``asyncio.create_subprocess_exec(...).wait()`` in this process. Goals (issue 2): crash to
event under 100 ms; a hang detected within heartbeat + 1 s.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import median, result

from phoenix_engine import events as ev
from phoenix_engine.core.settings import resolve
from phoenix_engine.engine import Engine

TRIALS = 15
CRASH = "import os, time\nprint(time.time(), flush=True)\nos._exit(1)\n"
HANG = "import time\nprint(time.time(), flush=True)\ntime.sleep(30)\n"


class Sink:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)


def settings_for(project: Path, script: str, **extra: str):  # type: ignore[no-untyped-def]
    (project / "train.py").write_text(script)
    env = {
        "PHOENIX_TRAIN_CMD": f"{sys.executable} train.py",
        "PHOENIX_MAX_RETRIES": "0",
        "PHOENIX_KILL_GRACE_SEC": "0.2",
        "PHOENIX_HEARTBEAT_MIN": "0",
        **extra,
    }
    return resolve(project_dir=project, env=env)


def child_clock(project: Path) -> float:
    return float((project / ".phoenix_cli" / "train.log").read_text().split()[0])


async def phoenix_crash(project: Path) -> float:
    sink = Sink()
    (project / ".phoenix_cli" / "train.log").unlink(missing_ok=True)
    await Engine(settings_for(project, CRASH), env=os.environ, sinks=[sink]).run()
    exited = next(e for e in sink.events if isinstance(e, ev.ProcessExited))
    return exited.ts - child_clock(project)


async def bare_crash(project: Path) -> float:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "train.py", cwd=project, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    await proc.wait()
    return time.time() - float(line)


async def phoenix_hang(project: Path, heartbeat_min: float) -> float:
    sink = Sink()
    (project / ".phoenix_cli" / "train.log").unlink(missing_ok=True)
    settings = settings_for(project, HANG, PHOENIX_HEARTBEAT_MIN=str(heartbeat_min))
    await Engine(settings, env=os.environ, sinks=[sink]).run()
    hang = next(e for e in sink.events if isinstance(e, ev.HangDetected))
    return hang.ts - child_clock(project) - heartbeat_min * 60


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-") as tmp:
        project = Path(tmp)
        (project / ".phoenix_cli").mkdir()
        (project / "train.py").write_text(CRASH)
        phx, bare = [], []
        for _ in range(TRIALS):
            bare.append(await bare_crash(project))
            phx.append(await phoenix_crash(project))
        late = [await phoenix_hang(project, 0.02) for _ in range(3)]
    p, b = median(phx) * 1000, median(bare) * 1000
    print(f"crash -> process_exited: phoenix median {p:.1f} ms, bare asyncio wait {b:.1f} ms")
    print(f"hang detected after heartbeat + {max(late) * 1000:.0f} ms (worst of 3)")
    result("crash to process_exited", p, b, "< 100 ms", p < 100, "ms")
    worst = max(late)
    result("hang detection beyond heartbeat", worst * 1000, None, "< 1000 ms", worst < 1, "ms")


if __name__ == "__main__":
    asyncio.run(main())
