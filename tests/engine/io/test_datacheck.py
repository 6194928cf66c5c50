"""verify() against a small data tree: each kind of change, the manifest's life, the edges."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from phoenix_engine.events import DataChanged
from phoenix_engine.io.datacheck import DataReport, VerifyCancelled, verify

FILES = {"train.csv": b"a,b\n1,2\n" * 100, "sub/val.csv": b"x\n" * 50, "labels.txt": b"cat\ndog\n"}


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    for rel, body in FILES.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(body)
    return data, tmp_path / ".phoenix_cli" / "data_manifest.json"


def later(path: Path) -> None:
    """Move the mtime on, as a real edit a moment later would."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def rewrite_same_size(data: Path) -> None:
    (data / "labels.txt").write_bytes(b"cow\npig\n")
    later(data / "labels.txt")


def rewrite_keeping_mtime(data: Path) -> None:
    st = (data / "labels.txt").stat()
    (data / "labels.txt").write_bytes(b"cow\npig\n")
    os.utime(data / "labels.txt", ns=(st.st_atime_ns, st.st_mtime_ns))


def touch(data: Path) -> None:
    later(data / "train.csv")


def append(data: Path) -> None:
    with (data / "sub/val.csv").open("ab") as fh:
        fh.write(b"y\n")
    later(data / "sub/val.csv")


def truncate(data: Path) -> None:
    os.truncate(data / "train.csv", 10)
    later(data / "train.csv")


def several(data: Path) -> None:
    (data / "labels.txt").unlink()
    truncate(data)
    (data / "sub/new.bin").write_bytes(b"\0" * 7)


CASES: list[tuple[str, Callable[[Path], object], dict[str, tuple[str, ...]], int]] = [
    ("nothing", lambda d: None, {}, 0),
    ("deleted", lambda d: (d / "sub/val.csv").unlink(), {"missing": ("sub/val.csv",)}, 0),
    ("same size, new bytes", rewrite_same_size, {"changed": ("labels.txt",)}, 8),
    ("touched only", touch, {}, 800),
    ("grown", append, {"changed": ("sub/val.csv",)}, 102),
    ("shrunk", truncate, {"truncated": ("train.csv",)}, 10),
    ("added", lambda d: (d / "extra.txt").write_text("hi"), {"added": ("extra.txt",)}, 2),
    # Size and mtime kept: trusted without reading, by design (that is what makes it fast).
    ("new bytes, size and mtime kept", rewrite_keeping_mtime, {}, 0),
    (
        "several",
        several,
        {"missing": ("labels.txt",), "truncated": ("train.csv",), "added": ("sub/new.bin",)},
        17,
    ),
]


@pytest.mark.parametrize(("name", "change", "expected", "hashed"), CASES, ids=[c[0] for c in CASES])
def test_changes_since_the_first_run(
    tree: tuple[Path, Path],
    name: str,
    change: Callable[[Path], object],
    expected: dict[str, tuple[str, ...]],
    hashed: int,
) -> None:
    data, manifest = tree
    first = verify(data, manifest)
    assert first.first_run and first.files == 3
    assert first.hashed_bytes == sum(len(b) for b in FILES.values())
    change(data)
    report = verify(data, manifest)
    got = {
        k: v
        for k in ("missing", "changed", "truncated", "added", "unreadable")
        if (v := getattr(report, k))
    }
    assert (report.first_run, got, report.hashed_bytes) == (False, expected, hashed)
    assert report.problems == bool(set(expected) - {"added"})


def test_first_run_records_every_file(tree: tuple[Path, Path]) -> None:
    data, manifest = tree
    verify(data, manifest)
    files = json.loads(manifest.read_text())["files"]
    assert sorted(files) == ["labels.txt", "sub/val.csv", "train.csv"]
    entry = files["labels.txt"]
    assert entry["size"] == 8 and len(entry["sha256"]) == 64
    assert entry["mtime_ns"] == (data / "labels.txt").stat().st_mtime_ns


def test_an_unchanged_tree_is_not_rewritten(tree: tuple[Path, Path]) -> None:
    data, manifest = tree
    verify(data, manifest)
    before = manifest.stat().st_mtime_ns, manifest.stat().st_ino
    report = verify(data, manifest)
    assert report == DataReport(first_run=False, files=3)
    assert (manifest.stat().st_mtime_ns, manifest.stat().st_ino) == before


def test_problems_are_reported_until_accepted(tree: tuple[Path, Path]) -> None:
    data, manifest = tree
    verify(data, manifest)
    truncate(data)
    assert verify(data, manifest).truncated == ("train.csv",)
    assert verify(data, manifest).truncated == ("train.csv",)  # not forgotten
    accepted = verify(data, manifest, accept=True)
    assert accepted.truncated == ("train.csv",)
    assert verify(data, manifest) == DataReport(first_run=False, files=3)


def test_added_files_alone_are_recorded(tree: tuple[Path, Path]) -> None:
    data, manifest = tree
    verify(data, manifest)
    (data / "more.txt").write_text("x")
    assert verify(data, manifest).added == ("more.txt",)
    assert verify(data, manifest).added == ()


def test_event() -> None:
    assert DataReport(first_run=True, files=3).event() is None
    report = DataReport(first_run=False, missing=("a",), unreadable=("b",), added=("c",))
    assert report.event() == DataChanged(missing=("a",), changed=("b",), added=("c",))


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"files": {"a": 3}}', b"\xff\xfe"])
def test_an_unreadable_manifest_is_recorded_afresh(tree: tuple[Path, Path], body: bytes) -> None:
    data, manifest = tree
    manifest.parent.mkdir(parents=True)
    manifest.write_bytes(body)
    report = verify(data, manifest)
    assert report.first_run and "recorded afresh" in report.manifest_error
    assert verify(data, manifest) == DataReport(first_run=False, files=3)


def test_a_missing_data_directory(tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    assert verify(tmp_path / "nope", manifest) == DataReport(first_run=True)
    (tmp_path / "nope").mkdir()
    (tmp_path / "nope" / "a").write_text("a")
    verify(tmp_path / "nope", manifest)
    (tmp_path / "nope" / "a").unlink()
    (tmp_path / "nope").rmdir()
    assert verify(tmp_path / "nope", manifest).missing == ("a",)


def test_symlinks_are_followed_once_and_the_state_dir_is_skipped(tmp_path: Path) -> None:
    elsewhere = tmp_path / "disk2" / "imagenet"
    elsewhere.mkdir(parents=True)
    (elsewhere / "img.jpg").write_bytes(b"\xff\xd8")
    data = tmp_path / "project"
    data.mkdir()
    (data / "imagenet").symlink_to(elsewhere)
    (elsewhere / "loop").symlink_to(elsewhere)  # a cycle
    (data / "dangling").symlink_to(tmp_path / "gone")
    state = data / ".phoenix_cli"
    state.mkdir()
    (state / "run.log").write_text("changes every run")
    report = verify(data, state / "data_manifest.json")
    assert report.files == 1
    assert list(json.loads((state / "data_manifest.json").read_text())["files"]) == [
        "imagenet/img.jpg"
    ]


def test_progress_reports_the_bytes_hashed(tree: tuple[Path, Path]) -> None:
    data, manifest = tree
    calls: list[tuple[int, int]] = []
    verify(data, manifest, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (908, 908)
    calls.clear()
    verify(data, manifest, progress=lambda done, total: calls.append((done, total)))
    assert calls == []  # nothing to hash


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_a_problem(tree: tuple[Path, Path]) -> None:
    data, manifest = tree
    verify(data, manifest)
    (data / "labels.txt").chmod(0)
    later(data / "labels.txt")
    try:
        report = verify(data, manifest)
    finally:
        (data / "labels.txt").chmod(0o644)
    assert report.unreadable == ("labels.txt",) and report.problems


def test_a_cancelled_verification_stops_and_records_nothing(tree: tuple[Path, Path]) -> None:
    data, manifest = tree
    asked: list[int] = []

    def cancelled() -> bool:
        asked.append(1)
        return True

    with pytest.raises(VerifyCancelled):
        verify(data, manifest, cancelled=cancelled)
    assert asked == [1]  # at the first chunk of the first file
    assert not manifest.exists()
