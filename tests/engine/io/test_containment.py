"""The before/after fingerprint that catches a shadow run changing real files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from phoenix_engine.io.containment import changed, take


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / ".phoenix_cli" / "backups" / "b1").mkdir(parents=True)
    (root / "train.py").write_text("LR = 0.1\n")
    (root / "data" / "train.csv").write_text("x,y\n")
    (root / ".phoenix_cli" / "run.log").write_text("{}\n")
    (root / ".phoenix_cli" / "data_manifest.json").write_text("{}\n")
    (root / ".phoenix_cli" / "backups" / "b1" / "manifest.json").write_text("{}\n")
    return root


def _same_size_same_mtime(path: Path) -> None:
    st = path.stat()
    path.write_bytes(path.read_bytes().upper())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # only ctime still tells


ACTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "rewrite in place, mtime restored": (
        lambda p: _same_size_same_mtime(p / "data" / "train.csv"),
        "data/train.csv",
    ),
    "new file": (lambda p: (p / "evil.py").write_text("x"), "evil.py"),
    "deleted": (lambda p: (p / "train.py").unlink(), "train.py"),
    "chmod": (lambda p: (p / "train.py").chmod(0o777), "train.py"),
    "data manifest": (
        lambda p: (p / ".phoenix_cli" / "data_manifest.json").write_text("{ }\n"),
        ".phoenix_cli/data_manifest.json",
    ),
    "backup": (
        lambda p: (p / ".phoenix_cli" / "backups" / "b1" / "manifest.json").write_text("[]"),
        ".phoenix_cli/backups/b1/manifest.json",
    ),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_kind_of_change_is_seen(project: Path, action: str) -> None:
    do, path = ACTIONS[action]
    state = project / ".phoenix_cli"
    before = take([project], state_dir=state)
    time.sleep(0.01)  # ctime has nanoseconds, but some filesystems tick coarsely
    do(project)
    found = changed(before, take([project], state_dir=state), relative_to=project)
    assert path in found, found


def test_phoenix_own_logs_are_not_a_breach(project: Path) -> None:
    state = project / ".phoenix_cli"
    before = take([project], state_dir=state)
    (state / "run.log").write_text('{"event": "shadow_passed"}\n')
    (state / "state.json").write_text("{}")
    (state / "state.json").unlink()
    assert changed(before, take([project], state_dir=state), relative_to=project) == ()


def test_outside_roots_are_named_by_absolute_path(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "datasets"
    elsewhere.mkdir()
    (elsewhere / "a.bin").write_bytes(b"1")
    before = take([project, elsewhere])
    (elsewhere / "a.bin").write_bytes(b"2")
    assert changed(before, take([project, elsewhere]), relative_to=project) == (
        str(elsewhere.resolve() / "a.bin"),
    )


def test_the_walk_is_bounded(project: Path) -> None:
    for i in range(50):
        (project / f"f{i}.py").write_text("")
    before = take([project], limit=10)
    assert before.truncated and len(before.entries) == 10
    after = take([project], limit=10)
    assert changed(before, after, relative_to=project) == ()


def test_new_bytecode_is_not_a_breach_but_rewritten_bytecode_is(project: Path) -> None:
    cache = project / "pkg" / "__pycache__"
    cache.mkdir(parents=True)
    (cache / "old.cpython-311.pyc").write_bytes(b"old")
    before = take([project])
    (cache / "late.cpython-311.pyc").write_bytes(b"new")  # Phoenix imported a module late
    assert changed(before, take([project]), relative_to=project) == ()
    (cache / "old.cpython-311.pyc").write_bytes(b"evil")
    assert changed(before, take([project]), relative_to=project) == (
        "pkg/__pycache__/old.cpython-311.pyc",
    )
