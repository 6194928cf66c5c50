"""state.json: budgets survive a restart of phoenix; damage never crashes it."""

from __future__ import annotations

from pathlib import Path

from phoenix_engine.state import ChildRecord, Ledger, StateStore


def test_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    ledger = Ledger(
        attempts={"abc": 2},
        restarts=3,
        tried={"abc": ["p1"]},
        fallback_uses=1,
        child=ChildRecord(pid=10, pgid=10, create_time=5.5, command="python train.py"),
    )
    store.save(ledger)
    loaded, note = StateStore(tmp_path).load()
    assert note == ""
    assert loaded == ledger


def test_missing_file_is_a_fresh_ledger(tmp_path: Path) -> None:
    assert StateStore(tmp_path).load() == (Ledger(), "")


def test_corrupt_file_is_set_aside_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    ledger, note = StateStore(tmp_path).load()
    assert ledger == Ledger()
    assert "unreadable" in note
    assert (tmp_path / "state.json.corrupt").read_text() == "{not json"


def test_wrong_shapes_are_treated_as_corrupt(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"attempts": [1, 2], "child": {"bogus": 1}}')
    ledger, note = StateStore(tmp_path).load()
    assert ledger == Ledger() and note


def test_clear_budgets_keeps_the_child(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    child = ChildRecord(pid=1, pgid=1, create_time=1.0, command="x")
    store.save(Ledger(attempts={"a": 3}, restarts=5, child=child))
    store.clear_budgets()
    assert store.load()[0] == Ledger(child=child)
