"""Faults at 3 a.m.: kill -9 in the middle of applying a patch, many phoenixes at once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli_support import PHOENIX, user_env

from phoenix_engine import events as ev
from phoenix_engine.backups import BackupState, find_interrupted, list_backups, rollback
from phoenix_engine.config import resolve
from phoenix_engine.engine import Engine

FILES = ("a.py", "b.py", "c.py")
BEFORE = {name: (f"# {name} before\n" + "x = 1\n" * 20_000).encode() for name in FILES}
AFTER = {name: (f"# {name} after\n" + "x = 2\n" * 20_000).encode() for name in FILES}

APPLY = """
import sys
from pathlib import Path
from phoenix_engine.backups import apply_changes, create_backup
from phoenix_engine.proposal import FileChange

project = Path(sys.argv[1])
changes = []
for name in {files!r}:
    before = (project / name).read_bytes()
    after = before.replace(b"before", b"after").replace(b"x = 1", b"x = 2")
    changes.append(FileChange(path=name, before=before, after=after, mode=None))
print("ready", flush=True)
record = create_backup(project / ".phoenix_cli", project, changes, proposal_id="p" * 12,
                       provider="test", signature="sig", diagnosis="fault injection")
apply_changes(project, changes, record, dry_run=False)
print("done", flush=True)
"""


def fresh_project(root: Path) -> Path:
    root.mkdir()
    for name in FILES:
        (root / name).write_bytes(BEFORE[name])
    return root


def run_apply(project: Path, kill_after: float | None) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", APPLY.format(files=FILES), str(project)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_kill_9_at_random_points_of_applying_never_half_writes_a_file(tmp_path: Path) -> None:
    started = time.perf_counter()
    run_apply(fresh_project(tmp_path / "timing"), None)
    full = time.perf_counter() - started  # a whole apply, process start included
    rng = random.Random(20261122)
    outcomes = {"untouched": 0, "partial": 0, "complete": 0}
    for trial in range(200):
        project = fresh_project(tmp_path / f"t{trial}")
        run_apply(project, rng.uniform(0, full))
        states = {name: (project / name).read_bytes() for name in FILES}
        for name, data in states.items():
            assert data in (BEFORE[name], AFTER[name]), f"trial {trial}: {name} is half-written"
        changed = sum(states[name] == AFTER[name] for name in FILES)
        backups = list_backups(project / ".phoenix_cli")
        if changed:
            assert backups, f"trial {trial}: files changed without a backup"
        if backups and backups[0].state is BackupState.PREPARED:
            assert find_interrupted(project / ".phoenix_cli")
            if trial % 10 == 0:  # the offered rollback really restores the originals
                rollback(project / ".phoenix_cli", project, backups[0].id)
                assert all((project / n).read_bytes() == BEFORE[n] for n in FILES)
        key = "untouched" if not changed else "complete" if changed == len(FILES) else "partial"
        outcomes[key] += 1
    assert outcomes["untouched"] and outcomes["complete"]  # the kills landed all over


def test_next_start_reports_an_interrupted_apply(tmp_path: Path) -> None:
    project = fresh_project(tmp_path / "p")
    run_apply(project, None)
    (record,) = list_backups(project / ".phoenix_cli")
    manifest = record.path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"applied"', '"prepared"'))
    (project / "train.py").write_text("print('ok')\n")
    env = {"PHOENIX_TRAIN_CMD": f"{sys.executable} train.py", "PHOENIX_COOLDOWN_SECONDS": "0"}
    seen: list[ev.Event] = []

    class Sink:
        def emit(self, event: ev.Event) -> None:
            seen.append(event)

    engine = Engine(resolve(project_dir=project, env=env), env=os.environ, sinks=[Sink()])
    asyncio.run(engine.run())
    notices = [e.message for e in seen if isinstance(e, ev.Notice)]
    assert any(f"phoenix rollback {record.id}" in n for n in notices), notices


def test_fifty_phoenixes_at_once_exactly_one_runs(tmp_path: Path) -> None:
    # The training lasts until every other phoenix has had its try (on a loaded machine a
    # late starter could otherwise find the lock free again after a short run ended).
    release = tmp_path / "release"
    (tmp_path / "train.py").write_text(
        "import time\nfrom pathlib import Path\nprint('running', flush=True)\n"
        f"while not Path({str(release)!r}).exists():\n    time.sleep(0.05)\n"
    )
    env = user_env(PHOENIX_TRAIN_CMD=f"{sys.executable} train.py")
    procs = [
        subprocess.Popen(
            [PHOENIX, "--unattended", "-C", str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(50)
    ]
    deadline = time.monotonic() + 90
    while sum(p.poll() is None for p in procs) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    release.write_text("go")
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [3] * 49, codes
    assert sum("running" in out for _, out, _ in results) == 1
    assert all("already supervises" in err for code, _, err in results if code == 3)
