"""Repair overhead: failure -> restarted, with an instant provider and no test command.

The project has 2,000 source files plus 20 GB of sparse data and checkpoint files. A repair
(the builtin doctor fixes a misspelt name: prompt, parse, policy, shadow copy + compile,
backup, atomic write) is timed from ``process_exited`` to the next ``process_started``, beside
a plain restart (restart-only mode) of the same project, alternating, in one run.
Goal (issue 3): median repair under 1 s.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _common import median, result

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import resolve
from phoenix_engine.engine import Engine

TRIALS = 5
BUGGY = "rate = 0.1\nprint('step 1 loss', rate)\nprint(rat)\n"  # NameError: Did you mean 'rate'?
FLAKY = (
    "from pathlib import Path\np = Path('ran')\n"
    "if not p.exists():\n    p.write_text('1')\n    raise RuntimeError('flaky')\n"
)


def build(project: Path) -> None:
    for i in range(2000):
        pkg = project / "src" / f"pkg{i // 100}"
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / f"mod{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n" * 5)
    for folder, name in (("data", "shard.bin"), ("checkpoints", "step-1000.pt")):
        (project / folder).mkdir()
        with (project / folder / name).open("wb") as fh:
            fh.truncate(10 * 1024**3)  # sparse: 10 GB that occupy no disk


class Sink:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)


async def restart_gap(project: Path, script: str, mode: str) -> float:
    (project / "train.py").write_text(script)
    (project / "ran").unlink(missing_ok=True)
    shutil.rmtree(project / ".phoenix_cli", ignore_errors=True)
    env = {
        "PHOENIX_TRAIN_CMD": f"{sys.executable} train.py",
        "PHOENIX_PRIMARY": "builtin",
        "PHOENIX_PATCH_MODE": mode,
        "PHOENIX_COOLDOWN_SECONDS": "0",
    }
    sink = Sink()
    engine = Engine(
        resolve(project_dir=project, env=env),
        env=os.environ,
        sinks=[sink],
        approver=ApprovalDesk("auto"),
    )
    await engine.run()
    exited = next(e for e in sink.events if isinstance(e, ev.ProcessExited))
    started = [e for e in sink.events if isinstance(e, ev.ProcessStarted)][1]
    if mode == "auto":
        assert any(isinstance(e, ev.PatchApplied) for e in sink.events), "no repair happened"
    return started.ts - exited.ts


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-") as tmp:
        project = Path(tmp)
        build(project)
        plain, repair = [], []
        for _ in range(TRIALS):
            plain.append(await restart_gap(project, FLAKY, "restart-only"))
            repair.append(await restart_gap(project, BUGGY, "auto"))
    p, r = median(plain) * 1000, median(repair) * 1000
    print(f"2,000 source files + 20 GB sparse data/checkpoints, {TRIALS} trials each")
    print(f"  plain restart  median {p:.0f} ms  {[round(x * 1000) for x in plain]}")
    print(f"  repair+restart median {r:.0f} ms  {[round(x * 1000) for x in repair]}")
    result("failure -> restarted with a repair", r, p, "< 1000 ms", r < 1000, "ms")


if __name__ == "__main__":
    asyncio.run(main())
