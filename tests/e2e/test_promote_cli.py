"""The real ``phoenix``: a night's model evaluated, promoted or kept (exit 5), rolled back,
promoted by hand, and a link that survives kill -9 at any point of a promotion."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from cli_support import PHOENIX, phoenix, user_env
from waiting import until_sync

from phoenix_engine.io.lock import ProjectLock

PY = sys.executable
TRAIN = """
import os, pathlib
pathlib.Path("out/final").mkdir(parents=True, exist_ok=True)
pathlib.Path("out/final/model.txt").write_text(os.environ["LOSS"])
print("step 1 loss", os.environ["LOSS"])
"""
EVAL = """
import os, sys, pathlib, time
if pathlib.Path("eval_crashes").exists():
    raise RuntimeError("the evaluation crashed")
if pathlib.Path("eval_hangs").exists():
    pathlib.Path("eval.pid").write_text(str(os.getpid()))
    time.sleep(60)
print("eval_loss:", pathlib.Path(sys.argv[1], "model.txt").read_text())
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "evaluate.py").write_text(EVAL)
    (tmp_path / "models").mkdir()
    return tmp_path


def env(**extra: str) -> dict[str, str]:
    settings = {
        "PHOENIX_TRAIN_CMD": f"{PY} train.py",
        "PHOENIX_EVAL_CMD": f"{PY} evaluate.py {{checkpoint}}",
        "PHOENIX_EVAL_METRIC_REGEX": r"eval_loss: (\S+)",
        "PHOENIX_CANDIDATE_GLOB": "out/final",
        "PHOENIX_PROMOTE_PATH": "models/current",
    }
    return user_env(**(settings | extra))


def night(project: Path, loss: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return phoenix("--unattended", cwd=project, env=env(LOSS=loss, **extra))


def served(project: Path) -> str:
    return (project / "models" / "current" / "model.txt").read_text()


def history(project: Path) -> list[dict[str, object]]:
    data = json.loads((project / ".phoenix_cli" / "promotions.json").read_text())
    rows = data["promotions"]
    assert isinstance(rows, list)
    return rows


def test_a_better_model_is_promoted_a_worse_one_is_not(tiny: Path) -> None:
    out = night(tiny, "0.5")
    assert out.returncode == 0, out.stderr
    assert "eval_loss: 0.5" in out.stdout  # the evaluation's output, echoed like the training's
    assert "models/current now serves out/final" in out.stderr
    link = tiny / "models" / "current"
    first = os.readlink(link)
    assert served(tiny) == "0.5"
    out = night(tiny, "0.6")
    assert out.returncode == 5, out.stderr
    assert "not promoted: score 0.6 is 0.1 (20.0%) worse than 0.5 in service" in out.stderr
    assert os.readlink(link) == first and served(tiny) == "0.5"
    out = night(tiny, "0.4")
    assert out.returncode == 0, out.stderr
    assert served(tiny) == "0.4"
    assert [(r["score"], r["by"]) for r in history(tiny)] == [(0.5, "phoenix"), (0.4, "phoenix")]
    train_log = (tiny / ".phoenix_cli" / "train.log").read_text()
    assert train_log.count("eval_loss:") == 3


def test_an_evaluation_that_crashes_or_times_out_is_not_promoted(tiny: Path) -> None:
    assert night(tiny, "0.5").returncode == 0
    (tiny / "eval_crashes").write_text("")
    out = night(tiny, "0.1")
    assert out.returncode == 5 and "the evaluation exited with code 1" in out.stderr
    (tiny / "eval_crashes").unlink()
    (tiny / "eval_hangs").write_text("")
    out = night(tiny, "0.1", PHOENIX_EVAL_TIMEOUT_SEC="1")
    assert out.returncode == 5 and "the evaluation timed out after 1s" in out.stderr
    assert served(tiny) == "0.5" and len(history(tiny)) == 1


def test_an_evaluation_left_by_a_killed_phoenix_is_stopped_by_the_next(tiny: Path) -> None:
    (tiny / "eval_hangs").write_text("")
    proc = subprocess.Popen(
        [PHOENIX, "--unattended"],
        cwd=tiny,
        env=env(LOSS="0.5"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until_sync((tiny / "eval.pid").exists, 30, what="the evaluation started", interval=0.05)
        pid = int((tiny / "eval.pid").read_text())
        status = phoenix("status", cwd=tiny, env=env())  # while it evaluates
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("phase: completed")
        assert "evaluating out/final (PHOENIX_EVAL_CMD)" in status.stdout
        assert "in service: nothing (models/current is not a link to a model)" in status.stdout
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert psutil.pid_exists(pid)  # the evaluation outlived phoenix
    (tiny / "eval_hangs").unlink()
    out = night(tiny, "0.5")
    assert out.returncode == 0, out.stderr
    assert f"stopped PID {pid} left running by an earlier phoenix" in out.stderr
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_rollback_status_and_promotion_by_hand(tiny: Path) -> None:
    assert night(tiny, "0.5").returncode == 0
    assert night(tiny, "0.4").returncode == 0
    status = phoenix("status", cwd=tiny, env=env())
    assert status.returncode == 1  # no engine runs, but the model in service is told
    assert "in service: models/current -> models/.current.versions/" in status.stdout
    assert "(from out/final, score 0.4, phoenix " in status.stdout
    back = phoenix("promote", "--rollback", cwd=tiny, env=env())
    assert back.returncode == 0, back.stderr
    assert "models/current rolled back to" in back.stderr
    assert served(tiny) == "0.5"
    assert history(tiny)[-1]["by"] == "rollback"
    mine = tiny / "mine"
    mine.mkdir()
    (mine / "model.txt").write_text("0.9")
    refused = phoenix("promote", "mine", cwd=tiny, env=env())
    assert refused.returncode == 5 and "worse than 0.5" in refused.stderr
    forced = phoenix("promote", "mine", "--force", cwd=tiny, env=env())
    assert forced.returncode == 0 and served(tiny) == "0.9"
    assert phoenix("promote", cwd=tiny, env=env()).returncode == 2
    journal = (tiny / ".phoenix_cli" / "run.log").read_text()
    assert journal.count('"event": "model_promoted"') == 4


def test_promote_refuses_while_an_engine_holds_the_project(tiny: Path) -> None:
    assert night(tiny, "0.5").returncode == 0
    lock = ProjectLock(tiny / ".phoenix_cli")
    lock.acquire()
    try:
        out = phoenix("promote", "--rollback", cwd=tiny, env=env())
    finally:
        lock.release()
    assert out.returncode == 3


def test_settings_are_checked_before_the_night(tiny: Path) -> None:
    bad = night(tiny, "0.5", PHOENIX_EVAL_METRIC_REGEX="eval_loss: [0-9.]+")
    assert bad.returncode == 2 and "PHOENIX_EVAL_METRIC_REGEX=" in bad.stderr
    missing = phoenix("--unattended", cwd=tiny, env=env(PHOENIX_CANDIDATE_GLOB="", LOSS="1"))
    assert missing.returncode == 2 and "PHOENIX_CANDIDATE_GLOB" in missing.stderr
    absent = night(tiny, "0.5", PHOENIX_EVAL_CMD="no-such-evaluator {checkpoint}")
    assert absent.returncode == 2 and "PHOENIX_EVAL_CMD" in absent.stderr
    assert not (tiny / "out").exists()  # refused before any training


def test_json_mode_lists_the_evaluation_events(tiny: Path) -> None:
    out = phoenix("--unattended", "--json", cwd=tiny, env=env(LOSS="0.5"))
    assert out.returncode == 0, out.stderr
    events = [json.loads(line)["event"] for line in out.stdout.splitlines()]
    assert events[-4:] == [
        "run_completed",
        "evaluation_started",
        "evaluation_finished",
        "model_promoted",
    ]


def _spawn_promote(project: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PHOENIX, "promote", "big", "--force"],
        cwd=project,
        env=env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _copy_begins(proc: subprocess.Popen[bytes], versions: Path, before: set[Path]) -> bool:
    """Wait until this promotion starts its copy (True), or the process ends first."""
    try:  # looked for every 2 ms: the kills that follow aim inside the promotion
        until_sync(
            lambda: set(versions.glob("*.partial")) - before,
            30,
            what="the promotion's copy to begin",
            interval=0.002,
            give_up=lambda: proc.poll() is not None,
        )
    except AssertionError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_kill_9_at_any_point_of_a_promotion_never_leaves_the_link_missing(tiny: Path) -> None:
    big = tiny / "big"
    big.mkdir()
    for i in range(600):  # enough files to make the copy take a while
        (big / f"shard-{i:03d}.bin").write_bytes(bytes([i % 256]) * 16384)
    assert phoenix("promote", "big", "--force", cwd=tiny, env=env()).returncode == 0
    link, versions = tiny / "models" / "current", tiny / "models" / ".current.versions"
    started = time.monotonic()  # calibrate: start-up, then the promotion itself
    proc = _spawn_promote(tiny)
    assert _copy_begins(proc, versions, set())
    copy_began = time.monotonic()
    assert proc.wait(timeout=30) == 0
    whole, phase = time.monotonic() - started, time.monotonic() - copy_began
    rng = random.Random(20261202)
    kills = inside = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and kills < 30:
        before = set(versions.glob("*.partial"))
        proc = _spawn_promote(tiny)
        if kills % 3:  # somewhere inside the promotion: the copy, the history, the swap
            inside += _copy_begins(proc, versions, before)
            time.sleep(rng.uniform(0, phase * 1.2))
        else:  # anywhere from start-up on
            time.sleep(rng.uniform(0, whole))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kills += 1
        assert link.is_symlink() and link.exists(), f"kill {kills}: the link is missing"
        shards = sorted(p.name for p in link.iterdir())
        assert len(shards) == 600, f"kill {kills}: the model in service is incomplete"
        assert (link / "shard-599.bin").read_bytes() == bytes([599 % 256]) * 16384
    assert kills >= 6 and inside >= 3
    after = phoenix("promote", "big", "--force", cwd=tiny, env=env())  # recovers
    assert after.returncode == 0, after.stderr
    assert not any(versions.glob("*.partial"))
    assert not list((tiny / "models").glob(".current.phoenix-tmp-*"))
    assert len(list(versions.iterdir())) <= 3


def test_promote_help_names_its_arguments() -> None:
    out = subprocess.run([PHOENIX, "promote", "--help"], capture_output=True, text=True, check=True)
    assert "--rollback" in out.stdout and "--force" in out.stdout
    assert "PHOENIX_EVAL_TOLERANCE" not in out.stdout and "--eval-tolerance" in out.stdout
