"""Small parts of issue 12: the batch flag on the command line, quarantine, the ledger fields."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from phoenix_engine.core.settings import Settings
from phoenix_engine.io.checkpoints import candidates, quarantine
from phoenix_engine.io.state_store import Ledger, StateStore
from phoenix_engine.llm._batch_flag import halve_batch_flag


@pytest.mark.parametrize(
    ("command", "expected", "shown"),
    [
        ("python train.py --batch_size 8", "python train.py --batch_size 4", "--batch_size 8 -> 4"),
        (
            "torchrun --nproc_per_node 2 run.py --per_device_train_batch_size 8 "
            "--per_device_eval_batch_size 16",
            "torchrun --nproc_per_node 2 run.py --per_device_train_batch_size 4 "
            "--per_device_eval_batch_size 16",
            "--per_device_train_batch_size 8 -> 4",
        ),
        (
            "python t.py --batch-size=9 2>&1 | tee log",
            "python t.py --batch-size=4 2>&1 | tee log",
            "--batch-size 9 -> 4",
        ),
        (
            "accelerate launch t.py --train_batch_size 64",
            "accelerate launch t.py --train_batch_size 32",
            "--train_batch_size 64 -> 32",
        ),
    ],
)
def test_the_training_batch_flag_is_halved_on_the_command_line(
    command: str, expected: str, shown: str
) -> None:
    fix = halve_batch_flag(command)
    assert fix is not None and (fix.command, fix.shown) == (expected, shown)


@pytest.mark.parametrize(
    "command",
    [
        "python train.py",  # the batch size lives in the code: the offline doctor edits it there
        "python train.py --eval_batch_size 8",  # evaluation only
        "python train.py --batch_size 1",  # cannot be halved
        "python train.py --batch_size_file sizes.txt",
    ],
)
def test_no_command_line_fix_without_a_training_batch_flag(command: str) -> None:
    assert halve_batch_flag(command) is None


def test_quarantine_moves_the_checkpoint_out_of_the_globs_reach_and_keeps_it(
    tmp_path: Path,
) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "step_10.pt").write_bytes(b"good")
    bad = ckpt / "step_20.pt"
    bad.write_bytes(b"trunc")
    state = tmp_path / ".phoenix_cli"
    moved = quarantine(bad, state, stamp="20260101-000000")
    assert moved == state / "quarantine" / "20260101-000000-step_20.pt"
    assert moved.read_bytes() == b"trunc" and not bad.exists()
    assert candidates(tmp_path, "ckpt/*.pt") == [ckpt / "step_10.pt"]
    assert candidates(tmp_path, "**/*.pt") == [ckpt / "step_10.pt"]  # hidden dirs are skipped


def test_the_ledger_keeps_marks_progress_counts_and_a_changed_command(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    ledger = Ledger(
        attempts={"abc": 1, "abc:restart": 2},
        restarts=3,
        marks={"abc": [40.0, 1.5]},
        best=[60.0, 2.5],
        no_progress=1,
        command={"original": "python t.py --batch_size 8", "command": "python t.py --batch_size 4"},
    )
    store.save(ledger)
    assert store.load() == (ledger, "")
    old = '{"attempts": {"abc": 1}, "restarts": 2, "version": 1}'  # a state.json before issue 12
    (tmp_path / "state.json").write_text(old)
    assert store.load() == (Ledger(attempts={"abc": 1}, restarts=2), "")


def test_the_checkpoint_to_quarantine_is_the_one_named_not_a_prefix_of_it() -> None:
    from phoenix_engine.io._resume_previous import named as _named

    root = Path("/p")
    found = [root / "out/checkpoint-500", root / "out/checkpoint-50"]
    error = "Unable to load weights from pytorch checkpoint file for 'out/checkpoint-50/model.bin'"
    assert _named(found, error, root) == root / "out/checkpoint-50"
    assert _named(found, "python t.py --resume out/checkpoint-500", root) == found[0]
    assert _named(found, "python t.py --resume /p/out/checkpoint-50", root) == found[1]
    assert _named(found, "python t.py", root) is None


def test_damaged_triage_fields_in_state_json_are_set_aside(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    (tmp_path / "state.json").write_text('{"restarts": 1, "best": ["x"], "version": 1}')
    ledger, note = store.load()
    assert ledger == Ledger() and "best is not a list of numbers" in note


def test_phoenix_reset_forgets_a_changed_command(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(Ledger(restarts=2, command={"original": "a", "command": "b", "why": "oom"}))
    store.clear_budgets()
    assert store.load() == (Ledger(), "")


def test_the_projects_own_modules_are_its_files_and_folders(tmp_path: Path) -> None:
    from phoenix_engine.io._waits import project_modules

    (tmp_path / "train.py").write_text("")
    (tmp_path / "utils").mkdir()
    (tmp_path / ".venv").mkdir()
    (tmp_path / "notes.txt").write_text("")
    assert project_modules(tmp_path) == {"train", "utils"}


def test_a_checkpoint_in_service_is_never_quarantined(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from phoenix_engine import events as ev
    from phoenix_engine.core.classify import classify
    from phoenix_engine.io._resume_previous import Stop, resume_previous

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "step_20.pt").write_bytes(b"trunc")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "current").symlink_to("../ckpt/step_20.pt")  # linked by hand
    s = make_settings(None, checkpoint_glob="ckpt/*.pt", promote_path="models/current")
    failure = classify(
        returncode=1,
        signal=None,
        tail=["RuntimeError: PytorchStreamReader failed reading zip archive: ckpt/step_20.pt"],
        project_dir=tmp_path,
    )
    seen: list[ev.Event] = []
    reason = asyncio.run(resume_previous(s, failure, "python train.py", seen.append))
    assert isinstance(reason, Stop) and "in service" in reason
    assert (ckpt / "step_20.pt").read_bytes() == b"trunc"  # not moved
    assert not (s.state_dir / "quarantine").exists()
