"""Highlighted diffs and the diff behind a backup."""

from __future__ import annotations

from pathlib import Path

from phoenix_engine.core.proposal import FileChange
from phoenix_engine.io.backups import apply_changes, create_backup, list_backups, rollback
from phoenix_tui.console._diff import backup_diff, highlight_diff

DIFF = "--- a/t.py\n+++ b/t.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n"


def styles(diff: str) -> dict[str, str]:
    text = highlight_diff(diff)
    out = {}
    for line in text.split("\n"):
        spans = [str(s.style) for s in line.spans]
        out[line.plain] = spans[0] if spans else ""
    return out


def test_additions_are_green_deletions_red_headers_plain_bold() -> None:
    found = styles(DIFF)
    assert found["+y = 3"] == "green"
    assert found["-y = 2"] == "red"
    assert found["@@ -1,2 +1,2 @@"] == "cyan"
    assert found["--- a/t.py"] == "bold" and found["+++ b/t.py"] == "bold"


def test_backup_diff_labels_what_the_file_on_disk_is(tmp_path: Path) -> None:
    project, state = tmp_path / "p", tmp_path / "p" / ".phoenix_cli"
    project.mkdir()
    (project / "t.py").write_bytes(b"x = 1\ny = 2\n")
    change = FileChange(path="t.py", before=b"x = 1\ny = 2\n", after=b"x = 1\ny = 3\n", mode=None)
    record = create_backup(
        state,
        project,
        [change],
        proposal_id="abc123",
        provider="builtin",
        signature="s",
        diagnosis="d",
    )
    apply_changes(project, [change], record, dry_run=False)
    record = list_backups(state)[0]

    note, diff = backup_diff(record, project, {})
    assert "t.py: as applied" in note
    assert "-y = 2\n+y = 3\n" in diff

    note, diff = backup_diff(record, project, {"abc123": DIFF})
    assert (note, diff) == ("the patch as it was applied", DIFF)

    (project / "t.py").write_bytes(b"x = 1\ny = 4\n")
    note, _ = backup_diff(record, project, {})
    assert "t.py: changed since" in note

    (project / "t.py").write_bytes(b"x = 1\ny = 3\n")
    rollback(state, project, record.id)
    record = next(r for r in list_backups(state) if r.id == record.id)
    note, diff = backup_diff(record, project, {})
    assert "t.py: back to the original" in note and diff == ""


def test_backup_diff_reads_no_original_outside_the_backup(tmp_path: Path) -> None:
    import json

    from phoenix_engine.io.backups import BackupRecord, BackupState

    backup = tmp_path / "backups" / "b1"
    (backup / "files").mkdir(parents=True)
    (tmp_path / "secret").write_text("not the backup's\n")
    files = [{"path": "../../secret", "existed": True, "sha256_before": None}]
    (backup / "manifest.json").write_text(json.dumps({"files": files}))
    record = BackupRecord(id="b1", path=backup, created=0.0, state=BackupState.APPLIED)
    note, diff = backup_diff(record, tmp_path, {})
    assert note.startswith("the manifest cannot be read: not a safe relative path") and diff == ""
