"""Promotion: the link swap, the store of copies, the history, rollback, the in-service guard."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ConfigError
from phoenix_engine.io._promote_store import store_dir, swap_link
from phoenix_engine.io.serving import describe_in_service, doctor_lines, in_service
from phoenix_engine.io.usercmd import OutputRelay
from phoenix_engine.promotion import PromotionError, adopt, promote_by_hand, rollback

Make = Callable[..., Settings]
PY = sys.executable
EVAL = (
    "import sys, pathlib; print('eval_loss:', pathlib.Path(sys.argv[1], 'model.txt').read_text())"
)
RELAY = OutputRelay(trainlog=None, redactor=Redactor([]))


@pytest.fixture
def make(make_settings: Make, tmp_path: Path) -> Make:
    (tmp_path / "evaluate.py").write_text(EVAL)
    (tmp_path / "models").mkdir()

    def settings(**env: str) -> Settings:
        base = {
            "eval_cmd": f"{PY} evaluate.py {{checkpoint}}",
            "eval_metric_regex": r"eval_loss: (\S+)",
            "candidate_glob": "out/final",
            "promote_path": "models/current",
        }
        return make_settings(None, **(base | env))

    return settings


def night(project: Path, loss: str) -> None:
    """What a training writes: out/final/model.txt, rewritten in place (same inode)."""
    (project / "out" / "final").mkdir(parents=True, exist_ok=True)
    with open(project / "out" / "final" / "model.txt", "w") as fh:
        fh.write(loss)


def run_adopt(s: Settings, recorder: Recorder) -> bool | None:
    async def go() -> bool | None:
        stop = asyncio.Event()
        return await adopt(s, env=os.environ, emit=recorder.emit, output=RELAY, stop=stop)

    return asyncio.run(go())


def served(project: Path) -> str:
    return (project / "models" / "current" / "model.txt").read_text()


def history(s: Settings) -> list[dict[str, object]]:
    rows = json.loads((s.state_dir / "promotions.json").read_text())["promotions"]
    assert isinstance(rows, list)
    return rows


def test_better_model_is_promoted_and_worse_one_is_not(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make()
    night(tmp_path, "0.5")
    assert run_adopt(s, recorder) is True
    link = tmp_path / "models" / "current"
    assert link.is_symlink() and not os.readlink(link).startswith("/")  # relative: movable
    assert served(tmp_path) == "0.5"
    first = os.path.realpath(link)
    night(tmp_path, "0.6")
    assert run_adopt(s, recorder) is False
    assert os.path.realpath(link) == first and served(tmp_path) == "0.5"  # unchanged
    skipped = recorder.of(ev.PromotionSkipped)[-1]
    assert "0.6 is 0.1 (20.0%) worse than 0.5" in skipped.reason
    assert "score 0.5" in skipped.in_service and skipped.candidate == "out/final"
    night(tmp_path, "0.4")
    assert run_adopt(s, recorder) is True and served(tmp_path) == "0.4"
    rows = history(s)
    assert [r["score"] for r in rows] == [0.5, 0.4]
    assert rows[1]["previous"] == first and rows[1]["candidate"] == "out/final"
    promoted = recorder.of(ev.ModelPromoted)
    assert promoted[-1].previous.startswith("models/.current.versions/")
    assert [e.name for e in recorder.events if e.name != "output"][-3:] == [
        "evaluation_started",
        "evaluation_finished",
        "model_promoted",
    ]


def test_model_in_service_survives_the_trainer_rotating_or_rewriting_its_folder(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make(eval_cmd="", eval_metric_regex="")  # promote every completed run
    night(tmp_path, "weights-1")
    assert run_adopt(s, recorder) is True
    night(tmp_path, "weights-2-written-in-place")  # a hard link would change with it
    assert served(tmp_path) == "weights-1"
    shutil.rmtree(tmp_path / "out")  # save_total_limit deletes the checkpoint folder
    assert served(tmp_path) == "weights-1"
    assert in_service(tmp_path / "models" / "current", s)


def test_only_the_model_in_service_and_two_before_it_are_kept(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make()
    for loss in ("0.9", "0.8", "0.7", "0.6", "0.5"):
        night(tmp_path, loss)
        assert run_adopt(s, recorder) is True
    versions = store_dir(tmp_path / "models" / "current")
    kept = sorted((p / "model.txt").read_text() for p in versions.iterdir())
    assert kept == ["0.5", "0.6", "0.7"]
    assert served(tmp_path) == "0.5"


def test_rollback_goes_back_one_model_at_a_time(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make()

    def back() -> ev.ModelPromoted:
        return asyncio.run(rollback(s, env=os.environ, emit=recorder.emit, output=RELAY))

    with pytest.raises(PromotionError, match="not a link to a model: nothing to roll back"):
        back()
    for loss in ("0.9", "0.8", "0.7"):
        night(tmp_path, loss)
        run_adopt(s, recorder)

    assert back().by == "rollback" and served(tmp_path) == "0.8"
    assert back().score == 0.9 and served(tmp_path) == "0.9"
    with pytest.raises(PromotionError, match="no earlier model"):
        back()
    assert served(tmp_path) == "0.9"
    assert "score 0.9, rollback" in describe_in_service(s)
    night(tmp_path, "0.85")  # compared with the model now in service (0.9): better
    assert run_adopt(s, recorder) is True and served(tmp_path) == "0.85"


def test_a_single_file_model_is_promoted_as_a_file(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make(eval_cmd="", eval_metric_regex="", candidate_glob="out/final/*.txt")
    night(tmp_path, "weights")
    assert run_adopt(s, recorder) is True
    link = tmp_path / "models" / "current"
    assert link.is_file() and link.read_text() == "weights"
    assert os.readlink(link).endswith("-model.txt")


def test_a_real_folder_at_the_promote_path_is_never_replaced(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make()
    (tmp_path / "models" / "current").mkdir()
    (tmp_path / "models" / "current" / "mine.txt").write_text("the user's")
    night(tmp_path, "0.5")
    assert run_adopt(s, recorder) is False
    assert "is not a link" in recorder.of(ev.PromotionSkipped)[0].reason
    assert (tmp_path / "models" / "current" / "mine.txt").read_text() == "the user's"


def test_no_candidate_and_a_crashing_evaluation_are_not_promoted(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make()
    assert run_adopt(s, recorder) is False
    assert "no complete model matches out/final" in recorder.of(ev.PromotionSkipped)[0].reason
    (tmp_path / "evaluate.py").write_text("raise SystemExit(3)")
    night(tmp_path, "0.1")
    assert run_adopt(s, recorder) is False
    assert "exited with code 3" in recorder.of(ev.PromotionSkipped)[1].reason
    assert not os.path.lexists(tmp_path / "models" / "current")


def test_a_copy_that_fails_leaves_the_model_in_service_and_no_partial_copy(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make()
    night(tmp_path, "0.5")
    assert run_adopt(s, recorder) is True
    first = os.path.realpath(tmp_path / "models" / "current")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.txt").write_text("0.1")
    os.mkfifo(broken / "pipe")  # copying a named pipe fails (shutil refuses, never blocks)
    promoted = asyncio.run(
        promote_by_hand(s, broken, force=True, env={}, emit=recorder.emit, output=RELAY)
    )
    assert promoted is False
    assert "could not put broken in service" in recorder.of(ev.PromotionSkipped)[0].reason
    assert os.path.realpath(tmp_path / "models" / "current") == first
    assert served(tmp_path) == "0.5"
    assert not list(store_dir(tmp_path / "models" / "current").glob("*.partial"))
    assert len(history(s)) == 1


def test_without_a_promote_path_the_last_passing_score_is_the_reference(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make(promote_path="")
    assert describe_in_service(s) == "in service: no model has passed its evaluation yet"
    for loss, passed in (("0.5", True), ("0.7", False), ("0.45", True)):
        night(tmp_path, loss)
        assert run_adopt(s, recorder) is passed
    assert [e.previous_score for e in recorder.of(ev.EvaluationFinished)] == [None, 0.5, 0.5]
    assert (
        describe_in_service(s)
        == "in service: no link; the reference is out/final (score 0.45, passed)"
    )
    assert not (tmp_path / "models" / "current").exists()


def test_promote_command_runs_after_the_swap_and_its_failure_is_told(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    script = "import sys, pathlib; pathlib.Path('reloaded').write_text(sys.argv[1]); sys.exit(2)"
    (tmp_path / "reload.py").write_text(script)
    s = make(promote_cmd=f"{PY} reload.py {{checkpoint}}")
    night(tmp_path, "0.5")
    assert run_adopt(s, recorder) is True  # the swap stands
    target = recorder.of(ev.ModelPromoted)[0].target
    assert (tmp_path / "reloaded").read_text() == target
    assert any("PHOENIX_PROMOTE_CMD ended with 2" in n.message for n in recorder.of(ev.Notice))


def test_promote_by_hand_evaluates_unless_forced(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make()
    night(tmp_path, "0.5")
    run_adopt(s, recorder)
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.txt").write_text("0.9")

    def by_hand(force: bool) -> bool:
        return asyncio.run(
            promote_by_hand(s, other, force=force, env=os.environ, emit=recorder.emit, output=RELAY)
        )

    assert by_hand(False) is False and served(tmp_path) == "0.5"
    assert by_hand(True) is True and served(tmp_path) == "0.9"
    assert recorder.of(ev.ModelPromoted)[-1].by == "operator"
    with pytest.raises(PromotionError, match="does not exist"):
        asyncio.run(
            promote_by_hand(
                s, tmp_path / "nope", force=True, env={}, emit=recorder.emit, output=RELAY
            )
        )


def test_an_unreadable_history_is_told_and_starts_anew(
    make: Make, tmp_path: Path, recorder: Recorder
) -> None:
    s = make()
    s.state_dir.mkdir()
    (s.state_dir / "promotions.json").write_text("{not json")
    night(tmp_path, "0.5")
    assert run_adopt(s, recorder) is True
    assert any("unreadable" in n.message for n in recorder.of(ev.Notice))
    assert len(history(s)) == 1


def test_in_service_guard(make: Make, tmp_path: Path, recorder: Recorder) -> None:
    s = make()
    assert not in_service(tmp_path / "out" / "final", s)  # nothing in service yet
    night(tmp_path, "0.5")
    run_adopt(s, recorder)
    target = Path(os.path.realpath(tmp_path / "models" / "current"))
    assert in_service(target, s)
    assert in_service(target / "model.txt", s)  # inside it
    assert in_service(tmp_path / "models", s)  # holds it
    assert not in_service(tmp_path / "out" / "final", s)  # the trainer's own folder is free
    assert not in_service(Path(str(target) + "-other"), s)


def test_swap_replaces_the_link_and_clears_temporary_links_left_behind(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    link = tmp_path / "current"
    os.symlink("dangling", tmp_path / ".current.phoenix-tmp-dead")  # a killed phoenix's
    swap_link(link, tmp_path / "a")
    swap_link(link, tmp_path / "b")
    assert os.readlink(link) == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "current"]


def test_doctor_lines(make: Make, tmp_path: Path) -> None:
    def rows(s: Settings) -> dict[str, tuple[bool, str, bool]]:
        return {n: (ok, d, w) for n, ok, d, w in doctor_lines(s, lambda c: "")}

    good = rows(make())
    assert good["promote path"][0] and "atomically" in good["promote path"][1]
    assert good["evaluation"][0] and good["evaluation metric"][0]
    assert rows(make(promote_path="gone/current"))["promote path"][:2] == (
        False,
        f"the folder {tmp_path / 'gone'} does not exist",
    )
    (tmp_path / "models" / "current").mkdir()
    assert "not a link" in rows(make())["promote path"][1]
    untested = rows(make(eval_cmd="", eval_metric_regex=""))["evaluation"]
    assert untested == (False, untested[1], True) and "untested" in untested[1]
    failing = doctor_lines(make(), lambda c: "`x` was not found on PATH")
    assert ("evaluation", False, "`x` was not found on PATH", False) in failing


def test_settings_name_what_is_missing_or_wrong(make_settings: Make) -> None:
    with pytest.raises(ConfigError, match="PHOENIX_CANDIDATE_GLOB"):
        make_settings(None, promote_path="models/current")
    with pytest.raises(ConfigError, match="PHOENIX_EVAL_METRIC_REGEX"):
        make_settings(None, eval_cmd="x", candidate_glob="o", eval_metric_regex="loss: (")
    s = make_settings(None, eval_cmd="x", checkpoint_glob="ckpt-*")  # that glob serves too
    assert s.eval_timeout_sec == 1800 and s.eval_goal == "min" and s.eval_tolerance == 0


def test_phoenix_doctor_runs_the_promotion_checks(make: Make) -> None:
    from phoenix_engine.doctor import run_checks

    checks = {c.name: c for c in run_checks(make(eval_cmd="no-such-evaluator {checkpoint}"), {})}
    assert checks["promote path"].ok
    assert not checks["evaluation"].ok and not checks["evaluation"].warning
    assert "`no-such-evaluator` was not found on PATH" in checks["evaluation"].detail


def test_a_partial_copy_left_by_a_kill_in_the_same_second_is_stepped_around(
    tmp_path: Path,
) -> None:
    from phoenix_engine.io._promote_store import copy_into_store

    candidate = tmp_path / "final"
    candidate.mkdir()
    (candidate / "model.txt").write_text("0.5")
    store = tmp_path / "store"
    first = copy_into_store(candidate, store, now=1000.0)
    # a kill -9 in the middle of the next copy leaves its .partial folder behind
    leftover = store / f"{first.name.replace('-final', '.2-final')}.partial"
    leftover.mkdir()
    second = copy_into_store(candidate, store, now=1000.0)  # the same second
    assert second != first and (second / "model.txt").read_text() == "0.5"
    assert leftover.is_dir()  # not ours to remove here: pruning does that
