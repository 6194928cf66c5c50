"""The evaluation: the pass decision (a table), the user's command run for real, its output."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import pytest
from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.evaluation import decide
from phoenix_engine.core.redact import Redactor
from phoenix_engine.io.journal import RotatingFile
from phoenix_engine.io.output import TrainLog
from phoenix_engine.io.state_store import ChildRecord
from phoenix_engine.io.usercmd import CommandRun, OutputRelay, run_command

PY = sys.executable
OK = CommandRun(returncode=0, score_text="0.5")


@pytest.mark.parametrize(
    ("run", "previous", "goal", "tolerance", "passed", "reason"),
    [
        (CommandRun(error="cannot start 'x': No such file"), None, "min", 0, False, "not start"),
        (CommandRun(stopped=True), None, "min", 0, False, "stopped"),
        (CommandRun(timed_out=True), 0.5, "min", 0, False, "timed out after 30s"),
        (CommandRun(returncode=3, score_text="0.1"), 0.5, "min", 0, False, "exited with code 3"),
        (CommandRun(returncode=None, signal=9), 0.5, "min", 0, False, "signal 9"),
        (CommandRun(returncode=0), 0.5, "min", 0, False, "no line matching"),
        (CommandRun(returncode=0, score_text="nan"), None, "min", 0, False, "is no number"),
        (CommandRun(returncode=0, score_text="abc"), None, "min", 0, False, "is no number"),
        (OK, None, "min", 0, True, "no score in service"),
        (CommandRun(returncode=0, score_text="0.4"), 0.5, "min", 0, True, "(20.0%) better"),
        (CommandRun(returncode=0, score_text="0.6"), 0.5, "min", 0, False, "0.1 (20.0%) worse"),
        (OK, 0.5, "min", 0, True, "equals 0.5"),
        (CommandRun(returncode=0, score_text="0.55"), 0.5, "min", 0.1, True, "(10.0%) worse"),
        (CommandRun(returncode=0, score_text="0.56"), 0.5, "min", 0.1, False, "tolerance 10.0%"),
        (CommandRun(returncode=0, score_text="0.9"), 0.8, "max", 0, True, "better"),
        (CommandRun(returncode=0, score_text="0.7"), 0.8, "max", 0, False, "(12.5%) worse"),
        (CommandRun(returncode=0, score_text="0.1"), 0.0, "min", 0, False, "0.1 worse than 0"),
    ],
)
def test_decide(
    run: CommandRun, previous: float | None, goal: str, tolerance: float, passed: bool, reason: str
) -> None:
    verdict = decide(
        run, previous=previous, wants_score=True, goal=goal, tolerance=tolerance, timeout_s=30
    )
    assert verdict.passed is passed
    assert reason in verdict.reason


def test_without_a_metric_exit_zero_passes_and_the_score_is_not_read() -> None:
    verdict = decide(CommandRun(returncode=0), previous=0.1, wants_score=False)
    assert verdict.passed and verdict.score is None
    failed = decide(CommandRun(returncode=1), previous=None, wants_score=False)
    assert not failed.passed


async def _run(
    code: str, *, timeout_s: float = 20, stop: asyncio.Event | None = None
) -> tuple[CommandRun, list[tuple[str, bytes]]]:
    chunks: list[tuple[str, bytes]] = []
    run = await run_command(
        f"{PY} -c {code!r}",
        cwd=Path.cwd(),
        env={"PATH": "/usr/bin:/bin"},
        timeout_s=timeout_s,
        grace_s=0.5,
        output=lambda stream, data: chunks.append((stream, data)),
        stop=stop or asyncio.Event(),
        metric=re.compile(r"eval_loss: (\S+)"),
    )
    return run, chunks


async def test_the_last_score_printed_counts_and_output_is_relayed() -> None:
    code = "print('eval_loss: 0.9'); import sys; print('eval_loss: 0.25', end='', file=sys.stderr)"
    run, chunks = await _run(code)
    assert run.returncode == 0 and run.score_text == "0.25"  # the last one, unfinished line too
    assert b"".join(d for s, d in chunks if s == "stdout") == b"eval_loss: 0.9\n"


async def test_a_hanging_evaluation_is_killed_at_its_timeout() -> None:
    started = time.monotonic()
    code = "import time; print('eval_loss: 0.1', flush=True); time.sleep(60)"
    run, _ = await _run(code, timeout_s=1)
    assert run.timed_out and not run.stopped
    assert time.monotonic() - started < 15
    assert not decide(run, previous=None, wants_score=True, timeout_s=1).passed


async def test_a_stop_request_ends_the_evaluation() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.5, stop.set)
    run, _ = await _run("import time; time.sleep(60)", stop=stop)
    assert run.stopped and not run.timed_out


async def test_a_command_that_cannot_start_is_an_error_not_an_exception() -> None:
    run = await run_command(
        "/nonexistent/eval --x",
        cwd=Path.cwd(),
        env={},
        timeout_s=5,
        grace_s=0.1,
        output=lambda s, d: None,
        stop=asyncio.Event(),
    )
    assert run.error and "/nonexistent/eval" in run.error


def test_relay_writes_train_log_echoes_and_emits_masked_lines(tmp_path: Path) -> None:
    recorder, echoed = Recorder(), []
    log = RotatingFile(tmp_path / "train.log", max_bytes=0)
    redactor = Redactor(["s3cr3t-value"])
    trainlog = TrainLog(log, redactor=redactor, on_error=lambda m: None)
    relay = OutputRelay(trainlog=trainlog, redactor=redactor, tee=echoed.append, emit=recorder.emit)
    relay("stdout", b"eval_loss: 0.5 key=s3cr3t-value\npart")
    relay.flush()
    log.close()
    text = (tmp_path / "train.log").read_text()
    assert text == "eval_loss: 0.5 key=[REDACTED]\npart\n"
    assert b"".join(echoed).decode() == text
    lines = [line for e in recorder.of(ev.OutputLines) for line in e.lines]
    assert lines == ["eval_loss: 0.5 key=[REDACTED]", "part"]


async def test_the_command_is_tracked_with_its_tree_mark_while_it_runs() -> None:
    records: list[ChildRecord | None] = []
    chunks: list[bytes] = []
    run = await run_command(
        f"{PY} -c \"import os; print(os.environ['PHOENIX_TREE_ID'])\"",
        cwd=Path.cwd(),
        env={"PATH": "/usr/bin:/bin"},
        timeout_s=20,
        grace_s=0.5,
        output=lambda stream, data: chunks.append(data),
        stop=asyncio.Event(),
        track=records.append,
    )
    assert run.returncode == 0
    first, last = records
    assert first is not None and last is None  # recorded while it ran, cleared after
    assert first.mark and b"".join(chunks).decode().strip() == first.mark
