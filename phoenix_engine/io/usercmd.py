"""The user's own commands after a training (PHOENIX_EVAL_CMD, PHOENIX_PROMOTE_CMD).

They run with the user's rights, not in the sandbox (they are not model-written), in the
project directory and a new session, bounded by a timeout and a stop request.
:class:`OutputRelay` sends their output where the training's goes; :func:`run_command` also
picks the score out of it (the last match of a regex); :func:`evaluate` runs PHOENIX_EVAL_CMD
and tells the verdict that ``core.evaluation.decide`` gives.
"""

from __future__ import annotations

__all__ = ["CommandRun", "OutputRelay", "Tracker", "evaluate", "run_command"]

import asyncio
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from phoenix_engine import events as ev
from phoenix_engine.core.command_line import parse
from phoenix_engine.core.evaluation import CommandRun, Verdict, decide
from phoenix_engine.core.lines import LineSplitter
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.io import proctree
from phoenix_engine.io.atomic import shown_path
from phoenix_engine.io.output import TrainLog
from phoenix_engine.io.state_store import ChildRecord
from phoenix_engine.io.supervisor import SpawnError, spawn

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

    argv = parse(command).argv  # the one shell rule, as for the training
    mark = proctree.new_mark()  # its daemons are found and stopped like the training's
    try:
        child = await spawn(
            argv, cwd=cwd, env={**env, proctree.MARK_ENV: mark}, on_output=on_output
        )
    except SpawnError as exc:
        return CommandRun(error=str(exc))
    if track is not None:
        track(ChildRecord.of(child, command=command, mark=mark))
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
