"""Evaluating the night's model: run PHOENIX_EVAL_CMD on it and decide whether it passes.

:func:`decide` is the pass decision, a pure function of the command's end, its score and the
score of the model in service (PHOENIX_EVAL_GOAL, PHOENIX_EVAL_TOLERANCE). :func:`run_command`
runs the user's own command (with their rights, not in the sandbox: it is not model-written)
in the project directory, its output relayed like the training's by :class:`OutputRelay`,
bounded by a timeout and a stop request. :func:`evaluate` sequences the two into events.
"""

from __future__ import annotations

__all__ = [
    "CommandRun",
    "OutputRelay",
    "Tracker",
    "Verdict",
    "decide",
    "evaluate",
    "run_command",
]

import asyncio
import math
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine import events as ev
from phoenix_engine.config import Settings
from phoenix_engine.engine import shell_argv
from phoenix_engine.lines import LineSplitter
from phoenix_engine.output import TrainLog
from phoenix_engine.redact import Redactor
from phoenix_engine.state import ChildRecord
from phoenix_engine.supervisor import SpawnError, spawn

Tracker = Callable[[ChildRecord | None], None]


class OutputRelay:
    """A command's output where the training's goes: ``train.log``, the echo on stdout,
    attached consoles and ``output`` events; never read for training metrics or hangs."""

    def __init__(
        self,
        *,
        trainlog: TrainLog | None,
        redactor: Redactor,
        tee: Callable[[bytes], None] | None = None,
        hooks: Sequence[Callable[[str, bytes], None]] = (),
        emit: Callable[[ev.Event], None] | None = None,
    ) -> None:
        self._trainlog, self._redactor, self._tee = trainlog, redactor, tee
        self._hooks, self._emit = hooks, emit
        self._splitters: dict[str, LineSplitter] = {}

    def __call__(self, stream: str, data: bytes) -> None:
        if self._trainlog is not None:
            self._echo(self._trainlog.write(stream, data))
        masked = self._redactor.redact_known_bytes(data)
        for hook in self._hooks:
            hook(stream, masked)
        if self._emit is not None:
            self._lines(stream, self._splitters.setdefault(stream, LineSplitter()).feed(masked))

    def flush(self) -> None:
        """The command ended: its unfinished lines too."""
        if self._trainlog is not None:
            self._echo(self._trainlog.flush())
        for stream, splitter in self._splitters.items():
            self._lines(stream, splitter.flush())

    def _echo(self, data: bytes) -> None:
        if data and self._tee is not None:
            self._tee(data)

    def _lines(self, stream: str, lines: list[str]) -> None:
        if lines and self._emit is not None:
            self._emit(ev.OutputLines(stream=stream, lines=tuple(lines)))


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRun:
    """How a command ended; ``error`` when it could not start."""

    returncode: int | None = None
    signal: int | None = None
    timed_out: bool = False
    stopped: bool = False
    error: str = ""
    score_text: str | None = None  # the last match of the metric regex, as printed


async def run_command(
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    grace_s: float,
    output: Callable[[str, bytes], None],
    stop: asyncio.Event,
    metric: re.Pattern[str] | None = None,
    track: Tracker | None = None,
) -> CommandRun:
    """Run ``command`` (in a new session) to its end, its timeout or a stop request.

    ``track`` is told the running child (and None after), so that a Phoenix killed meanwhile
    leaves a record for the next one to stop it, as it does for a training."""
    splitters: dict[str, LineSplitter] = {}
    found: list[str] = []

    def scan(lines: list[str]) -> None:
        for line in lines:
            m = metric.search(line) if metric is not None else None
            if m is not None:
                found.append(m.group(1))

    def on_output(stream: str, data: bytes) -> None:
        output(stream, data)
        if metric is not None:
            scan(splitters.setdefault(stream, LineSplitter()).feed(data))

    argv, _ = shell_argv(command)
    try:
        child = await spawn(argv, cwd=cwd, env=env, on_output=on_output)
    except SpawnError as exc:
        return CommandRun(error=str(exc))
    if track is not None:
        track(
            ChildRecord(
                pid=child.pid, pgid=child.pgid, create_time=child.create_time, command=command
            )
        )
    waiter = asyncio.ensure_future(child.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait(
            {waiter, stopper}, timeout=timeout_s, return_when="FIRST_COMPLETED"
        )
    except BaseException:  # cancelled: the command must not run on unsupervised
        child.kill_now()
        raise
    finally:
        stopper.cancel()
    ended = waiter in done
    await child.stop(grace_s)  # after an exit: what it left behind
    info = await waiter
    if track is not None:
        track(None)
    for splitter in splitters.values():
        scan(splitter.flush())
    return CommandRun(
        returncode=info.returncode,
        signal=info.signal,
        timed_out=not ended and not stop.is_set(),
        stopped=not ended and stop.is_set(),
        score_text=found[-1] if found else None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    passed: bool
    reason: str
    score: float | None = None


def _number(value: float) -> str:
    return f"{value:.6g}"


def decide(
    run: CommandRun,
    *,
    previous: float | None,
    wants_score: bool,
    goal: str = "min",
    tolerance: float = 0.0,
    timeout_s: float = 0.0,
) -> Verdict:
    """Pass or fail, and why: the command must exit 0; with a metric, its score must not be
    worse than ``previous`` (the model in service's) by more than ``tolerance`` (relative)."""
    if run.error:
        return Verdict(passed=False, reason=f"the evaluation could not start: {run.error}")
    if run.stopped:
        return Verdict(passed=False, reason="phoenix was stopped during the evaluation")
    if run.timed_out:
        return Verdict(passed=False, reason=f"the evaluation timed out after {timeout_s:g}s")
    if run.returncode != 0:
        how = f"died of signal {run.signal}" if run.signal else f"exited with code {run.returncode}"
        return Verdict(passed=False, reason=f"the evaluation {how}")
    if not wants_score:
        return Verdict(passed=True, reason="the evaluation exited 0")
    if run.score_text is None:
        reason = "the evaluation printed no line matching PHOENIX_EVAL_METRIC_REGEX"
        return Verdict(passed=False, reason=reason)
    try:
        score = float(run.score_text)
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        return Verdict(
            passed=False, reason=f"the evaluation's score {run.score_text!r} is no number"
        )
    return _compare(score, previous, goal, tolerance)


def _compare(score: float, previous: float | None, goal: str, tolerance: float) -> Verdict:
    if previous is None:
        reason = f"score {_number(score)}; no score in service to compare with"
        return Verdict(passed=True, reason=reason, score=score)
    worse = score - previous if goal == "min" else previous - score
    if worse == 0:
        text = f"score {_number(score)} equals {_number(previous)} in service"
    else:
        rel = f" ({abs(worse) / abs(previous):.1%})" if previous else ""
        side = "worse" if worse > 0 else "better"
        text = f"score {_number(score)} is {_number(abs(worse))}{rel} {side} than "
        text += f"{_number(previous)} in service"
    goal_text = "lower is better" if goal == "min" else "higher is better"
    allowed = tolerance * abs(previous)
    if worse > allowed and not math.isclose(worse, allowed, rel_tol=1e-9):
        tol = f"tolerance {tolerance:.1%}" if tolerance else "no tolerance"
        return Verdict(passed=False, reason=f"{text} ({goal_text}, {tol})", score=score)
    return Verdict(passed=True, reason=f"{text} ({goal_text})", score=score)


async def evaluate(
    settings: Settings,
    candidate: Path,
    *,
    previous: float | None,
    env: Mapping[str, str],
    emit: Callable[[ev.Event], None],
    output: OutputRelay,
    stop: asyncio.Event,
    track: Tracker | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Verdict:
    """Run PHOENIX_EVAL_CMD on ``candidate`` (``{checkpoint}``, ``PHOENIX_CANDIDATE``)."""
    s = settings
    shown = shown_path(candidate, s.project_dir)
    command = s.eval_cmd.replace("{checkpoint}", shlex.quote(shown))
    emit(ev.EvaluationStarted(candidate=shown, command=command))
    started = clock()
    regex = re.compile(s.eval_metric_regex) if s.eval_metric_regex else None
    run = await run_command(
        command,
        cwd=s.project_dir,
        env={**env, "PHOENIX_CANDIDATE": str(candidate)},
        timeout_s=s.eval_timeout_sec,
        grace_s=s.kill_grace_sec,
        output=output,
        stop=stop,
        metric=regex,
        track=track,
    )
    output.flush()
    verdict = decide(
        run,
        previous=previous,
        wants_score=regex is not None,
        goal=s.eval_goal,
        tolerance=s.eval_tolerance,
        timeout_s=s.eval_timeout_sec,
    )
    emit(
        ev.EvaluationFinished(
            candidate=shown,
            passed=verdict.passed,
            score=verdict.score,
            previous_score=previous,
            reason=verdict.reason,
            duration_s=round(clock() - started, 3),
        )
    )
    return verdict


def shown_path(path: Path, project_dir: Path) -> str:
    """``path`` relative to the project when inside it, else absolute."""
    try:
        return str(path.relative_to(project_dir))
    except ValueError:
        return str(path)
