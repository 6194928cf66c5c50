"""Building proposals from replies against a real temporary project: all or nothing, no writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from unidiff.patch import PatchSet

from phoenix_engine.core.patches import FilePatch, ReplaceRangePatch, Reply, UnifiedDiffPatch
from phoenix_engine.core.policy import Limits
from phoenix_engine.core.proposal import (
    MAX_FILE_BYTES,
    FileChange,
    Proposal,
    Refusal,
    build_proposal,
)
from phoenix_engine.io.project_files import ProjectResolver

LIMITS = Limits(allowlist=("*.py",))
TRAIN = "import os\n\ndef main():\n    lr = 0.1\n    return lr\n"


def _rr(path: str, start: int, end: int, new: str, original: str | None = None) -> FilePatch:
    return ReplaceRangePatch(
        path=path, start_line=start, end_line=end, replacement=new, original=original
    )


def _ud(path: str, *body: str, header: str = "@@ -1 +1 @@") -> FilePatch:
    old = "/dev/null" if header.startswith("@@ -0,0") else f"a/{path}"
    return UnifiedDiffPatch(
        path=path, diff=f"--- {old}\n+++ b/{path}\n{header}\n" + "\n".join(body)
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text(TRAIN)
    (root / "train.py").chmod(0o750)
    (root / "pkg" / "model.py").write_text("A = 1\nB = 2\n")
    (root / "win.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    (root / "bom.py").write_bytes("\ufeffa = 1\n".encode())
    (root / "blob.py").write_bytes(b"x\x00y\n")
    (root / "latin.py").write_bytes(b"s = '\xe9'\n")
    (root / "pkgdir.py").mkdir()
    (root / "alias.py").symlink_to("pkg/model.py")
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.relative_to(root).as_posix(): (p.lstat().st_mode, p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


def _build(project: Path, *patches: FilePatch, limits: Limits = LIMITS) -> Proposal | Refusal:
    reply = Reply(diagnosis="lr too high", patches=patches)
    return build_proposal(
        ProjectResolver(project), reply, limits, provider="fake", signature="abcd" * 4
    )


def test_a_proposal_carries_everything_the_engine_needs(project: Path) -> None:
    before = _snapshot(project)
    proposal = _build(project, _rr("train.py", 4, 4, "    lr = 0.01\n", original="    lr = 0.1\n"))
    assert isinstance(proposal, Proposal), proposal
    assert (proposal.provider, proposal.signature, proposal.diagnosis) == (
        "fake",
        "abcd" * 4,
        "lr too high",
    )
    (change,) = proposal.changes
    assert change == FileChange(
        path="train.py",
        before=TRAIN.encode(),
        after=TRAIN.replace("0.1", "0.01").encode(),
        mode=(project / "train.py").stat().st_mode,
    )
    assert stat.S_IMODE(change.mode or 0) == 0o750
    assert proposal.changed_lines == 1
    assert proposal.paths == ("train.py",)
    assert len(proposal.id) == 12 and int(proposal.id, 16) >= 0
    (patched,) = PatchSet(proposal.diff)
    assert (patched.source_file, patched.target_file) == ("a/train.py", "b/train.py")
    assert (patched.added, patched.removed) == (1, 1)
    assert _snapshot(project) == before  # nothing written


def test_identical_changes_have_identical_ids(project: Path) -> None:
    as_range = _build(project, _rr("train.py", 4, 4, "    lr = 0.01\n"))
    as_diff = _ud("train.py", " def main():", "-    lr = 0.1", "+    lr = 0.01", header="@@ @@")
    other = _build(project, _rr("train.py", 4, 4, "    lr = 0.02\n"))
    first, second = as_range, _build(project, as_diff)
    assert isinstance(first, Proposal) and isinstance(second, Proposal)
    assert isinstance(other, Proposal)
    assert first.id == second.id != other.id


def test_patches_to_one_file_apply_in_sequence(project: Path) -> None:
    proposal = _build(
        project,
        _rr("train.py", 4, 4, "    lr = 0.01\n"),
        _ud("train.py", " def main():", "-    lr = 0.01", "+    lr = 0.001", header="@@ ... @@"),
        _rr("pkg/model.py", 3, 2, "C = 3\n"),
    )
    assert isinstance(proposal, Proposal), proposal
    assert [c.path for c in proposal.changes] == ["pkg/model.py", "train.py"]
    assert proposal.changes[1].after == TRAIN.replace("0.1", "0.001").encode()
    assert proposal.changes[0].after == b"A = 1\nB = 2\nC = 3\n"
    assert proposal.changed_lines == 2
    assert [f.path for f in PatchSet(proposal.diff)] == ["pkg/model.py", "train.py"]


@pytest.mark.parametrize(
    ("patch", "path", "after"),
    [
        (_rr("win.py", 2, 2, "b = 3\n"), "win.py", b"a = 1\r\nb = 3\r\n"),
        (_rr("bom.py", 1, 1, "a = 2\n", original="a = 1\n"), "bom.py", "\ufeffa = 2\n".encode()),
        (_rr("alias.py", 1, 1, "A = 0\n"), "pkg/model.py", b"A = 0\nB = 2\n"),
        (_ud("pkg/new.py", "+X = 1", header="@@ -0,0 +1 @@"), "pkg/new.py", b"X = 1\n"),
        (_rr("pkg/other.py", 1, 0, "Y = 2"), "pkg/other.py", b"Y = 2\n"),
    ],
    ids=["crlf", "bom", "symlink-inside", "new-file-diff", "new-file-range"],
)
def test_bytes_written_are_exact(project: Path, patch: FilePatch, path: str, after: bytes) -> None:
    proposal = _build(project, patch)
    assert isinstance(proposal, Proposal), proposal
    (change,) = proposal.changes
    assert (change.path, change.after) == (path, after)
    if not (project / path).exists():
        assert (change.before, change.mode) == (None, None)
        assert proposal.diff.startswith(f"--- /dev/null\n+++ b/{path}\n")


def test_diff_marks_a_missing_final_newline(project: Path) -> None:
    (project / "tail.py").write_text("a = 1\nb = 2")
    proposal = _build(project, _rr("tail.py", 1, 1, "a = 3\n"))
    assert isinstance(proposal, Proposal)
    assert proposal.changes[0].after == b"a = 3\nb = 2"
    assert proposal.diff.endswith(" b = 2\n\\ No newline at end of file\n")
    assert len(PatchSet(proposal.diff)) == 1


BIG = Limits(allowlist=("*.py",), max_patch_lines=3, max_patch_files=2)


@pytest.mark.parametrize(
    ("patches", "needle"),
    [
        ((), "proposes no change"),
        ((_rr("../x.py", 1, 1, "x\n"),), "'..'"),
        ((_rr("tests/test_a.py", 1, 0, "x\n"),), "tests/"),
        ((_rr("blob.py", 1, 1, "x\n"),), "blob.py is a binary file"),
        ((_rr("latin.py", 1, 1, "x\n"),), "latin.py is not UTF-8"),
        ((_rr("pkgdir.py", 1, 1, "x\n"),), "not a regular file"),
        ((_rr("train.py/x.py", 1, 0, "x\n"),), "cannot be read"),
        ((_rr("train.py", 1, 1, "import sys\n"), _rr("pkg/model.py", 9, 9, "x\n")), "not a range"),
        ((_rr("train.py", 1, 1, "x\n", original="import sys\n"),), "'original' does not match"),
        ((_rr("train.py", 1, 1, "import sys\n"), _rr("train.py", 1, 1, "import os\n")), "together"),
        ((_rr("train.py", 1, 1, "x = '\ud800'\n"),), "cannot encode"),
        ((_rr("train.py", 1, 1, "x = '\x00'\n"),), "NUL"),
        ((_rr("a.py", 1, 0, "a\n"), _rr("b.py", 1, 0, "b\n"), _rr("blob.py", 1, 1, "")), "3 files"),
        ((_rr("train.py", 1, 0, "a\nb\nc\nd\n"),), "changes 4 lines; at most 3"),
    ],
    ids=lambda v: None if isinstance(v, tuple) else v,
)
def test_refusals(project: Path, patches: tuple[FilePatch, ...], needle: str) -> None:
    before = _snapshot(project)
    refusal = _build(project, *patches, limits=BIG)
    assert isinstance(refusal, Refusal)
    assert needle in refusal.reason
    assert _snapshot(project) == before


def test_a_too_big_change_is_refused_with_its_id(project: Path) -> None:
    patch = _rr("train.py", 1, 0, "a\nb\nc\nd\n")
    refusal = _build(project, patch, limits=BIG)
    proposal = _build(project, patch)
    assert isinstance(refusal, Refusal) and isinstance(proposal, Proposal)
    assert refusal.id == proposal.id  # the engine can remember it as tried


def test_huge_files_are_not_read(project: Path) -> None:
    (project / "huge.py").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    refusal = _build(project, _rr("huge.py", 1, 1, "x\n"))
    assert isinstance(refusal, Refusal)
    assert "too large" in refusal.reason
