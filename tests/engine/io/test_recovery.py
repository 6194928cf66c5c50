"""Start-up recovery: an interrupted apply is undone wholly, Phoenix's leftovers are removed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from phoenix_engine import events as ev
from phoenix_engine.io.atomic import write_atomic
from phoenix_engine.io.backups import BackupState, create_backup, list_backups
from phoenix_engine.io.recovery import recover_applies, remove_leftovers


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    path: str
    before: bytes | None
    after: bytes
    mode: int | None = None


CHANGES = [
    Change(path="train.py", before=b"lr = -1\n", after=b"lr = 1\n"),
    Change(path="pkg/model.py", before=b"x = 1\n", after=b"x = 2\n"),
    Change(path="pkg/new.py", before=None, after=b"y = 3\n"),  # created by the patch
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_bytes(b"lr = -1\n")
    os.chmod(root / "train.py", 0o750)
    (root / "pkg" / "model.py").write_bytes(b"x = 1\n")
    return root


def prepared(project: Path) -> str:
    record = create_backup(
        project / ".phoenix_cli",
        project,
        CHANGES,
        proposal_id="abcdef123456",
        provider="test",
        signature="sig",
        diagnosis="d",
    )
    return record.id


def files(project: Path) -> dict[str, bytes | None]:
    return {
        c.path: (project / c.path).read_bytes() if (project / c.path).exists() else None
        for c in CHANGES
    }


@pytest.mark.parametrize("written", [0, 1, 2, 3])
def test_an_apply_killed_after_n_files_is_undone_wholly(project: Path, written: int) -> None:
    backup_id = prepared(project)
    for change in CHANGES[:written]:  # phoenix was killed -9 after this many files
        write_atomic(project / change.path, change.after)
    events = recover_applies(project / ".phoenix_cli", project)
    assert files(project) == {c.path: c.before for c in CHANGES}
    assert os.stat(project / "train.py").st_mode & 0o777 == 0o750
    rolled = [e for e in events if isinstance(e, ev.RolledBack)]
    assert [(e.backup_id, set(e.paths)) for e in rolled] == [
        (backup_id, {c.path for c in CHANGES[:written]})
    ]
    (record,) = list_backups(project / ".phoenix_cli")
    assert record.state is BackupState.ABORTED
    assert recover_applies(project / ".phoenix_cli", project) == []  # nothing left to do


def test_leftover_temp_files_and_folders_are_removed_and_nothing_else(project: Path) -> None:
    backup_id = prepared(project)
    state = project / ".phoenix_cli"
    temps = [
        project / ".train.py.0123abcd.phoenix-tmp",
        project / "pkg" / ".new.py.deadbeef.phoenix-tmp",
        state / "backups" / backup_id / ".manifest.json.00ff00ff.phoenix-tmp",
        state / "state.json.tmp",
    ]
    for path in temps:
        path.write_bytes(b"x" * 1000)
    (state / "backups" / ".tmp-20260101-000000-abcdef" / "files").mkdir(parents=True)
    kept = [project / ".train.py.notours.phoenix-tmp", project / "notes.phoenix-tmp"]
    for path in kept:
        path.write_bytes(b"mine")
    assert remove_leftovers(state, project) == len(temps) + 1
    assert not any(path.exists() for path in temps)
    assert list((state / "backups").glob(".tmp-*")) == []
    assert all(path.read_bytes() == b"mine" for path in kept)
