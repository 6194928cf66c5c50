"""Whether the night's model passes its evaluation: the verdict, pure.

:class:`CommandRun` is how a user's command ended (what :mod:`phoenix_engine.io.usercmd` reports
after running it); :func:`decide` is the pass decision, a pure function of that end, its score
and the score of the model in service (PHOENIX_EVAL_GOAL, PHOENIX_EVAL_TOLERANCE). Running
PHOENIX_EVAL_CMD is ``io.usercmd.evaluate``'s.
"""

from __future__ import annotations

__all__ = ["CommandRun", "Verdict", "decide"]

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRun:
    """How a command ended; ``error`` when it could not start."""

    returncode: int | None = None
    signal: int | None = None
    timed_out: bool = False
    stopped: bool = False
    error: str = ""
    score_text: str | None = None  # the last match of the metric regex, as printed


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
