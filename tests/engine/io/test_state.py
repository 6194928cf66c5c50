"""state.json: budgets survive a restart of phoenix; damage never crashes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_engine.io.state_store import ChildRecord, Ledger, StateStore


def test_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    ledger = Ledger(
        attempts={"abc": 2},
        restarts=3,
        tried={"abc": ["p1"]},
        fallback_uses=1,
        child=ChildRecord(pid=10, pgid=10, create_time=5.5, command="python train.py", mark="ab12"),
    )
    store.save(ledger)
    loaded, note = StateStore(tmp_path).load()
    assert note == ""
    assert loaded == ledger


def test_missing_file_is_a_fresh_ledger(tmp_path: Path) -> None:
    assert StateStore(tmp_path).load() == (Ledger(), "")


DAMAGED = {
    "not json": b"{not json",
    "binary": bytes(range(256)) * 4,
    "not utf-8": b'{"restarts": 1, "x": "caf\xe9"}',
    "a string pid": b'{"child": {"pid": "1234", "pgid": 1234, "create_time": 1.0, "command": "x"}}',
    "a huge number": b'{"restarts": 1e400}',
    "an infinite time": b'{"child": {"pid": 5, "pgid": 5, "create_time": Infinity, "command": ""}}',
    "a pid out of range": b'{"child": {"pid": 99999999999, "pgid": 1, "create_time": 1}}',
    "a list": b"[1, 2, 3]",
    "a string": b'"state"',
    "null": b"null",
    "attempts as a list": b'{"attempts": [1, 2]}',
    "a negative count": b'{"restarts": -3}',
    "a bool count": b'{"fallback_uses": true}',
    "a float count": b'{"attempts": {"sig": 2.5}}',
    "tried of numbers": b'{"tried": {"sig": [1, 2]}}',
    "unknown child fields": b'{"child": {"bogus": 1}}',
    "child as a string": b'{"child": "pid 12"}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "empty": b"",
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_file_is_moved_aside_and_phoenix_starts_fresh(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "state.json").write_bytes(content)
    ledger, note = StateStore(tmp_path).load()
    assert ledger == Ledger()
    assert "damaged" in note and "starting fresh" in note
    (aside,) = tmp_path.glob("state.json.damaged-*")
    assert aside.read_bytes() == content
    assert not (tmp_path / "state.json").exists()
    assert aside.name in note


def test_a_record_from_before_marks_still_loads(tmp_path: Path) -> None:
    old = b'{"restarts": 2, "child": {"pid": 7, "pgid": 7, "create_time": 3, "command": "x"}}'
    (tmp_path / "state.json").write_bytes(old)
    ledger, note = StateStore(tmp_path).load()
    assert note == ""
    assert ledger == Ledger(
        restarts=2, child=ChildRecord(pid=7, pgid=7, create_time=3.0, command="x")
    )


def test_clear_budgets_keeps_the_child(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    child = ChildRecord(pid=1, pgid=1, create_time=1.0, command="x")
    store.save(Ledger(attempts={"a": 3}, restarts=5, child=child))
    store.clear_budgets()
    assert store.load()[0] == Ledger(child=child)
