"""Evaluating the night's model: run PHOENIX_EVAL_CMD on it and decide whether it passes.

:func:`decide` is the pass decision, a pure function of the command's end, its score and the
score of the model in service (PHOENIX_EVAL_GOAL, PHOENIX_EVAL_TOLERANCE). :func:`evaluate`
runs the command (:mod:`phoenix_engine.io.usercmd`) and turns both into events.
"""

from __future__ import annotations

__all__ = ["Verdict", "decide", "evaluate"]

import asyncio
import math
import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.io.atomic import shown_path
from phoenix_engine.io.usercmd import CommandRun, OutputRelay, Tracker, run_command


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
