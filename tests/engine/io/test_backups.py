"""Backups, the atomic writer, crash-safe apply, prune and rollback, on real files."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from virtual_time import VirtualTime

from phoenix_engine.io.atomic import inside, remove_stale_bytecode, write_atomic, write_synced
from phoenix_engine.io.backups import (
    BackupError,
    BackupRecord,
    BackupState,
    apply_changes,
    create_backup,
    find_interrupted,
    list_backups,
    prune,
    rollback,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    path: str
    before: bytes | None
    after: bytes
    mode: int | None = None


OLD = b"import os\r\nlr = 0.1\r\n"
NEW = b"import os\r\nlr = 0.01\r\n"


def ticking() -> VirtualTime:
    """A clock a second further at each reading: each backup gets its own second."""
    return VirtualTime(1_795_000_000.0, tick=1.0)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_bytes(OLD)
    os.chmod(root / "train.py", 0o750)
    (root / "pkg" / "model.py").write_bytes(b"x = 1\n")
    return root


def _backup(
    project: Path,
    changes: list[Change],
    clock: Callable[[], float] | None = None,
    *,
    proposal_id: str = "ab12cd34ef",
    writer: Callable[[Path, bytes], None] = write_synced,
) -> BackupRecord:
    return create_backup(
        project / ".phoenix_cli",
        project,
        changes,
        proposal_id=proposal_id,
        provider="builtin",
        signature="f" * 16,
        diagnosis="d",
        clock=clock or ticking(),
        writer=writer,
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_manifest_records_paths_hashes_and_metadata(project: Path) -> None:
    changes = [
        Change(path="train.py", before=OLD, after=NEW),
        Change(path="pkg/new.py", before=None, after=b"y = 2\n"),
    ]
    record = _backup(project, changes)
    assert record.state is BackupState.PREPARED
    assert record.id.startswith("20261118-") and record.id.endswith("-ab12cd")
    assert record.paths == ("train.py", "pkg/new.py")
    manifest = json.loads((record.path / "manifest.json").read_text())
    assert manifest["provider"] == "builtin" and manifest["signature"] == "f" * 16
    assert manifest["diagnosis"] == "d" and manifest["kind"] == "patch"
    train, new = manifest["files"]
    assert train["sha256_before"] == _sha(OLD) and train["sha256_after"] == _sha(NEW)
    assert stat.S_IMODE(train["mode"]) == 0o750 and train["existed"] is True
    assert new["existed"] is False and new["sha256_before"] is None
    assert (record.path / "files" / "train.py").read_bytes() == OLD
    assert (project / "train.py").read_bytes() == OLD  # nothing applied yet
    assert not list((project / ".phoenix_cli" / "backups").glob(".tmp-*"))


def test_apply_writes_atomically_keeps_mode_crlf_and_drops_stale_bytecode(project: Path) -> None:
    cache = project / "__pycache__"
    cache.mkdir()
    (cache / "train.cpython-311.pyc").write_bytes(b"stale")
    (cache / "train.cpython-311.opt-1.pyc").write_bytes(b"stale")
    (cache / "trainer.cpython-311.pyc").write_bytes(b"other module")
    changes = [Change(path="train.py", before=OLD, after=NEW)]
    record = apply_changes(project, changes, _backup(project, changes), dry_run=False)
    assert record.state is BackupState.APPLIED
    assert (project / "train.py").read_bytes() == NEW  # \r\n kept byte for byte
    assert stat.S_IMODE((project / "train.py").stat().st_mode) == 0o750
    assert sorted(p.name for p in cache.iterdir()) == ["trainer.cpython-311.pyc"]
    assert not [p for p in project.iterdir() if "phoenix-tmp" in p.name]
    assert list_backups(project / ".phoenix_cli")[0].state is BackupState.APPLIED


def test_write_atomic_sets_explicit_mode_and_keeps_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.py"
    target.write_bytes(b"a\n")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    write_atomic(link, b"b\r\n", 0o100755)
    assert link.is_symlink() and target.read_bytes() == b"b\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    write_atomic(tmp_path / "fresh.txt", b"new")
    assert (tmp_path / "fresh.txt").read_bytes() == b"new"


def test_remove_stale_bytecode_ignores_non_python(tmp_path: Path) -> None:
    assert remove_stale_bytecode(tmp_path / "conf.yaml") == []
    assert remove_stale_bytecode(tmp_path / "no_cache_dir.py") == []


@pytest.mark.parametrize("bad", ["../x.py", "/etc/passwd", "a/../../x", "", "a\\b.py"])
def test_inside_refuses_paths_that_leave_the_project(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        inside(tmp_path, bad)


def test_dry_run_backs_up_and_writes_nothing(project: Path) -> None:
    changes = [Change(path="train.py", before=OLD, after=NEW)]
    record = apply_changes(project, changes, _backup(project, changes), dry_run=True)
    assert record.state is BackupState.DRY_RUN
    assert (project / "train.py").read_bytes() == OLD
    assert (record.path / "files" / "train.py").read_bytes() == OLD
    with pytest.raises(BackupError, match="dry run"):
        rollback(project / ".phoenix_cli", project, record.id)


def test_ids_are_unique_within_one_second(project: Path) -> None:
    changes = [Change(path="train.py", before=OLD, after=NEW)]
    frozen = ticking()
    ids = {_backup(project, changes, lambda: 1_795_000_000.5).id for _ in range(3)}
    assert len(ids) == 3
    other = _backup(project, changes, clock=frozen, proposal_id="not-hex-at-all")
    assert len(other.id.split("-")[2]) == 6


def test_prune_keeps_newest_and_never_prepared(project: Path) -> None:
    state, clock = project / ".phoenix_cli", ticking()
    changes = [Change(path="train.py", before=OLD, after=OLD)]
    made = []
    for i in range(5):
        record = _backup(project, changes, clock=clock, proposal_id=f"{i:06x}")
        if i != 0:  # the oldest stays "prepared", as if phoenix died while applying it
            apply_changes(project, changes, record, dry_run=False)
        made.append(record.id)
    (state / "backups" / ".tmp-leftover").mkdir()
    removed = prune(state, keep=2)
    assert removed == [made[2], made[1]]
    assert [r.id for r in list_backups(state)] == [made[4], made[3], made[0]]
    assert not (state / "backups" / ".tmp-leftover").exists()
    assert prune(state, keep=0) == [made[3]]  # the newest is never pruned


def test_rollback_restores_and_makes_a_safety_backup_first(project: Path) -> None:
    state, clock = project / ".phoenix_cli", ticking()
    changes = [
        Change(path="train.py", before=OLD, after=NEW, mode=0o100644),
        Change(path="pkg/sub/new.py", before=None, after=b"y = 2\n"),
    ]
    record = apply_changes(project, changes, _backup(project, changes, clock), dry_run=False)
    assert stat.S_IMODE((project / "train.py").stat().st_mode) == 0o644
    (project / "train.py").write_bytes(NEW + b"# edited by hand\n")

    result = rollback(state, project, clock=clock)
    assert result.backup_id == record.id
    assert set(result.paths) == {"train.py", "pkg/sub/new.py"}
    assert (project / "train.py").read_bytes() == OLD
    assert stat.S_IMODE((project / "train.py").stat().st_mode) == 0o750
    assert not (project / "pkg" / "sub" / "new.py").exists()
    by_id = {r.id: r for r in list_backups(state)}
    assert by_id[record.id].state is BackupState.ROLLED_BACK
    safety = by_id[result.safety_backup_id]
    assert safety.kind == "rollback" and safety.state is BackupState.APPLIED
    assert (safety.path / "files" / "train.py").read_bytes() == NEW + b"# edited by hand\n"
    with pytest.raises(BackupError, match="no applied patch"):
        rollback(state, project)

    undo = rollback(state, project, result.safety_backup_id, clock=clock)  # undo the rollback
    assert (project / "train.py").read_bytes() == NEW + b"# edited by hand\n"
    assert (project / "pkg" / "sub" / "new.py").read_bytes() == b"y = 2\n"
    assert undo.backup_id == result.safety_backup_id


def test_interrupted_prepared_backup_is_found_and_can_be_rolled_back(project: Path) -> None:
    state = project / ".phoenix_cli"
    changes = [
        Change(path="train.py", before=OLD, after=NEW),
        Change(path="pkg/model.py", before=b"x = 1\n", after=b"x = 2\n"),
    ]
    record = _backup(project, changes)
    write_atomic(project / "train.py", NEW)  # killed -9 after the first of two files
    assert [r.id for r in find_interrupted(state)] == [record.id]
    rollback(state, project, record.id[:-2])  # a unique prefix is enough
    assert (project / "train.py").read_bytes() == OLD
    assert (project / "pkg" / "model.py").read_bytes() == b"x = 1\n"
    assert find_interrupted(state) == []


def test_corrupt_manifest_is_listed_not_fatal(project: Path) -> None:
    changes = [Change(path="train.py", before=OLD, after=NEW)]
    good = _backup(project, changes)
    bad = project / ".phoenix_cli" / "backups" / "20200101-000000-badbad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    records = {r.id: r for r in list_backups(project / ".phoenix_cli")}
    assert records[good.id].state is BackupState.PREPARED
    assert records[bad.name].state is BackupState.UNREADABLE
    assert "JSONDecodeError" in records[bad.name].reason
    assert bad.name not in prune(project / ".phoenix_cli", keep=1)
    with pytest.raises(BackupError, match="unreadable"):
        rollback(project / ".phoenix_cli", project, bad.name)


def test_full_disk_during_backup_leaves_project_untouched(project: Path) -> None:
    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    changes = [Change(path="train.py", before=OLD, after=NEW)]
    with pytest.raises(BackupError, match="No space left on device"):
        _backup(project, changes, writer=full_disk)
    assert (project / "train.py").read_bytes() == OLD
    assert list((project / ".phoenix_cli" / "backups").iterdir()) == []


def test_failed_write_during_apply_restores_what_was_written(project: Path) -> None:
    changes = [
        Change(path="train.py", before=OLD, after=NEW),
        Change(path="pkg/model.py", before=b"x = 1\n", after=b"x = 2\n"),
    ]
    record = _backup(project, changes)
    (project / "pkg" / "model.py").write_bytes(b"x = 99\n")  # changed after the backup
    with pytest.raises(BackupError, match="changed on disk"):
        apply_changes(project, changes, record, dry_run=False)
    assert (project / "train.py").read_bytes() == OLD
    assert list_backups(project / ".phoenix_cli")[0].state is BackupState.ABORTED


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (Change(path="train.py", before=b"other", after=NEW), "changed on disk"),
        (Change(path="train.py", before=None, after=NEW), "already exists"),
        (Change(path="../escape.py", before=None, after=NEW), "not a safe relative path"),
    ],
)
def test_backup_refuses_stale_or_unsafe_changes(project: Path, change: Change, match: str) -> None:
    with pytest.raises(BackupError, match=match):
        _backup(project, [change])
