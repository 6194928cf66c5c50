"""Faults at 3 a.m.: kill -9 in the middle of applying a patch, many phoenixes at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import PHOENIX, user_env
from waiting import until_sync

from phoenix_engine import events as ev
from phoenix_engine.core.proposal import FileChange
from phoenix_engine.core.settings import resolve
from phoenix_engine.engine import Engine
from phoenix_engine.io.backups import (
    BackupState,
    apply_changes,
    create_backup,
    find_interrupted,
    list_backups,
    rollback,
)
from phoenix_engine.io.recovery import recover_applies

FILES = ("a.py", "b.py", "c.py")
BEFORE = {name: (f"# {name} before\n" + "x = 1\n" * 20_000).encode() for name in FILES}
AFTER = {name: (f"# {name} after\n" + "x = 2\n" * 20_000).encode() for name in FILES}
# Kill points per fault test, one per slice of the apply (see kill_points): 200 uniform draws
# took 25-59 s on a busy machine against the 60 s timeout; 60 slices take a third of that.
KILL_TRIALS = 60


def apply_patch(project: Path) -> None:
    """What phoenix does to apply a three-file patch: back up, then write each file."""
    changes = [
        FileChange(path=name, before=BEFORE[name], after=AFTER[name], mode=None) for name in FILES
    ]
    record = create_backup(
        project / ".phoenix_cli",
        project,
        changes,
        proposal_id="p" * 12,
        provider="test",
        signature="sig",
        diagnosis="fault injection",
    )
    apply_changes(project, changes, record, dry_run=False)


def fresh_project(root: Path) -> Path:
    root.mkdir()
    for name in FILES:
        (root / name).write_bytes(BEFORE[name])
    return root


def run_apply(project: Path, kill_after: float | None) -> None:
    """Apply in a forked copy of this process (no interpreter start: ~10x faster a trial than
    a fresh ``python -c``), killed -9 ``kill_after`` seconds after the child says it runs (so
    the kill point does not shift with how long a busy machine takes to schedule the child)."""
    started, say_started = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(say_started, b".")
            apply_patch(project)
        finally:
            os._exit(0)
    os.close(say_started)
    os.read(started, 1)
    os.close(started)
    if kill_after is not None:
        time.sleep(kill_after)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def tree_state(project: Path) -> str:
    """'old', 'new' or 'mixed' (a file half-written fails the test outright)."""
    states = {name: (project / name).read_bytes() for name in FILES}
    for name, data in states.items():
        assert data in (BEFORE[name], AFTER[name]), f"{name} is half-written"
    changed = sum(states[name] == AFTER[name] for name in FILES)
    return "old" if not changed else "new" if changed == len(FILES) else "mixed"


def leftovers(project: Path) -> list[Path]:
    """Phoenix's own temp files and folders."""
    found = list(project.rglob("*.phoenix-tmp"))
    return found + list((project / ".phoenix_cli" / "backups").glob(".tmp-*"))


def apply_time(tmp_path: Path) -> float:
    """How long a whole apply takes here, timed as ``run_apply`` times its kills: the slowest of
    three, so that the kill points reach the end of an apply on a busy machine."""
    times = []
    for n in range(3):
        started = time.perf_counter()
        run_apply(fresh_project(tmp_path / f"timing{n}"), None)
        times.append(time.perf_counter() - started)
    return max(times)


def kill_points(trials: int, full: float, seed: int) -> list[float]:
    """One kill in each of ``trials`` equal slices of the apply, at a random point of its slice.

    Stratified rather than uniform: every stretch of the apply (backup, each file's write and
    rename, the manifest) is hit at a known spacing, so a few dozen trials cover the kill points
    that 200 uniform draws covered only on average, and the test's pace is bounded.
    """
    rng = random.Random(seed)
    return [(i + rng.random()) * full / trials for i in range(trials)]


def test_kill_9_at_random_points_of_applying_never_half_writes_a_file(tmp_path: Path) -> None:
    full = apply_time(tmp_path)
    outcomes = {"old": 0, "mixed": 0, "new": 0}
    for trial, kill_after in enumerate(kill_points(KILL_TRIALS, full, seed=20261122)):
        project = fresh_project(tmp_path / f"t{trial}")
        run_apply(project, kill_after)
        state = tree_state(project)
        backups = list_backups(project / ".phoenix_cli")
        if state != "old":
            assert backups, f"trial {trial}: files changed without a backup"
        if backups and backups[0].state is BackupState.PREPARED:
            assert find_interrupted(project / ".phoenix_cli")
            if trial % 3 == 0:  # the offered rollback really restores the originals
                rollback(project / ".phoenix_cli", project, backups[0].id)
                assert all((project / n).read_bytes() == BEFORE[n] for n in FILES)
        outcomes[state] += 1
        shutil.rmtree(project)
    assert outcomes["old"] and outcomes["new"]  # the kills landed all over


@pytest.mark.slow
def test_after_kill_9_during_an_apply_the_next_start_sees_a_whole_tree(tmp_path: Path) -> None:
    """The tree the next training starts on is wholly old or wholly new, and no temp file of
    phoenix is left (kill -9 at one random point in each of 60 slices of a three-file apply)."""
    full = apply_time(tmp_path)
    before = {"old": 0, "mixed": 0, "new": 0}
    after = {"old": 0, "new": 0}
    for trial, kill_after in enumerate(kill_points(KILL_TRIALS, full, seed=11)):
        project = fresh_project(tmp_path / f"t{trial}")
        run_apply(project, kill_after)
        before[tree_state(project)] += 1
        events = recover_applies(project / ".phoenix_cli", project)  # the next start
        state = tree_state(project)
        assert state != "mixed", f"trial {trial}: the next start would train on a mixed tree"
        assert leftovers(project) == [], f"trial {trial}"
        assert find_interrupted(project / ".phoenix_cli") == []
        if any(isinstance(e, ev.RolledBack) for e in events):
            assert state == "old"
        after[state] += 1
        shutil.rmtree(project)
    assert after["old"] and after["new"], (before, after)  # the kills landed all over
    assert before["mixed"] + before["new"] > after["new"], before  # some applies were undone


def test_next_start_rolls_back_an_interrupted_apply(tmp_path: Path) -> None:
    project = fresh_project(tmp_path / "p")
    run_apply(project, None)
    (record,) = list_backups(project / ".phoenix_cli")
    manifest = record.path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"applied"', '"prepared"'))
    (project / ".a.py.0123abcd.phoenix-tmp").write_bytes(AFTER["a.py"])  # a kill mid-write
    (project / ".phoenix_cli" / "backups" / ".tmp-20260101-000000-abcdef").mkdir()
    (project / "train.py").write_text("print('ok')\n")
    env = {"PHOENIX_TRAIN_CMD": f"{sys.executable} train.py", "PHOENIX_COOLDOWN_SECONDS": "0"}
    seen: list[ev.Event] = []

    class Sink:
        def emit(self, event: ev.Event) -> None:
            seen.append(event)

    engine = Engine(resolve(project_dir=project, env=env), env=os.environ, sinks=[Sink()])
    asyncio.run(engine.run())
    assert tree_state(project) == "old"
    assert leftovers(project) == []
    names = [e.name for e in seen]
    assert names.index("rolled_back") < names.index("process_started")
    (rolled,) = [e for e in seen if isinstance(e, ev.RolledBack)]
    assert rolled.backup_id == record.id and set(rolled.paths) == set(FILES)
    notices = [e.message for e in seen if isinstance(e, ev.Notice)]
    assert any("interrupted apply rolled back" in n for n in notices), notices
    assert list_backups(project / ".phoenix_cli")[0].state is BackupState.ABORTED


def test_an_interrupted_apply_over_an_edited_file_is_left_for_the_operator(
    tmp_path: Path,
) -> None:
    project = fresh_project(tmp_path / "p")
    run_apply(project, None)
    (record,) = list_backups(project / ".phoenix_cli")
    manifest = record.path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"applied"', '"prepared"'))
    (project / "b.py").write_text("# edited by hand after the crash\n")
    events = recover_applies(project / ".phoenix_cli", project)
    assert (project / "a.py").read_bytes() == AFTER["a.py"]  # nothing touched
    assert (project / "b.py").read_text() == "# edited by hand after the crash\n"
    (notice,) = events
    assert isinstance(notice, ev.Notice)
    assert f"phoenix rollback {record.id}" in notice.message and "b.py" in notice.message
    assert find_interrupted(project / ".phoenix_cli")


@pytest.mark.slow
@pytest.mark.timeout(200)  # above its own 90 s wait plus the 60 s ones (50 starts on 2 cores)
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
    try:
        one_left = lambda: sum(p.poll() is None for p in procs) <= 1  # noqa: E731
        until_sync(one_left, 90, what="one phoenix left running", interval=0.1)
        release.write_text("go")
        results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    finally:  # a failure must not leave fifty phoenixes to the tests that follow
        release.write_text("go")  # ends the training too
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [3] * 49, codes
    assert sum("running" in out for _, out, _ in results) == 1
    assert all("already supervises" in err for code, _, err in results if code == 3)
