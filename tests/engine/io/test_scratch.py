"""Scratch folders carry their Phoenix's pid; a later Phoenix removes those of a dead one."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from phoenix_engine.io import scratch


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_scratch_folder_is_named_with_this_phoenix_pid(tmp_path: Path) -> None:
    made = Path(tempfile.mkdtemp(prefix=scratch.prefix("shadow"), dir=tmp_path))
    assert made.name.startswith(f"phoenix-shadow-{os.getpid()}-")


def test_only_the_folders_of_a_phoenix_that_is_gone_are_removed(tmp_path: Path) -> None:
    gone, alive = dead_pid(), os.getpid()
    stale = [tmp_path / f"phoenix-shadow-{gone}-ab12", tmp_path / f"phoenix-gemini-{gone}-x"]
    kept = [
        tmp_path / f"phoenix-shadow-{alive}-cd34",  # a Phoenix that still runs uses it
        tmp_path / "phoenix-shadow-ef56",  # made before folders had a pid: whose, unknown
        tmp_path / f"other-{gone}-x",  # not Phoenix's
    ]
    for folder in stale + kept:
        (folder / "project").mkdir(parents=True)
        (folder / "project" / "train.py").write_text("x = 1\n")
    (tmp_path / f"phoenix-cmd-{gone}-file").write_text("a file, not a folder")
    assert scratch.remove_stale(tmp_path) == 2
    assert [p for p in stale if p.exists()] == []
    assert all(p.is_dir() for p in kept) and (tmp_path / f"phoenix-cmd-{gone}-file").is_file()


def test_a_missing_temp_directory_removes_nothing(tmp_path: Path) -> None:
    assert scratch.remove_stale(tmp_path / "nowhere") == 0
