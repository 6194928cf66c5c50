"""After a failure: measure, decide, journal, act. The engine calls :meth:`FailureHandler.handle`.

The class table gave an action; what the machine looks like now (free disk, who holds the GPU)
and the run's history (a failure that came back without progress) may change it; the budgets
(:mod:`phoenix_engine.core.budget`) allow it or give up, naming their rule. Then the action runs:
``repair`` (the only one that asks a provider; an OOM whose batch size is on the command line is
fixed there), ``restart``, ``resume_previous`` (quarantine, resume from the one before),
``debug_rerun`` (``CUDA_LAUNCH_BLOCKING=1`` for one attempt), ``wait`` (disk space, other
processes' GPU memory) and ``stop``. It is also an event sink: it follows the attempt's best step.
"""

from __future__ import annotations

__all__ = ["DEBUG_ENV", "FailureHandler", "project_modules"]

import asyncio
import time
from collections.abc import Awaitable, Callable

from phoenix_engine import events as ev
from phoenix_engine.core.budget import History, Limits, Mark, Plan, escalate, plan
from phoenix_engine.core.classify import Action, Classified, FailureKind
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io import _waits as waits
from phoenix_engine.io._measure import Machine
from phoenix_engine.io._resume_previous import Stop, resume_previous
from phoenix_engine.io._waits import project_modules
from phoenix_engine.io.checkpoints import newest_complete
from phoenix_engine.io.state_store import Ledger
from phoenix_engine.llm._batch_flag import halve_batch_flag

DEBUG_ENV = {"CUDA_LAUNCH_BLOCKING": "1", "TORCH_USE_CUDA_DSA": "1"}


class FailureHandler:
    """One per engine; ``use(ledger)`` at the start of each supervision."""

    def __init__(
        self,
        settings: Settings,
        *,
        emit: Callable[[ev.Event], None],
        save: Callable[[Ledger], None],
        stop: asyncio.Event,
        resume_point: Callable[[], Awaitable[str | None]],
        repair: Callable[[Classified, Ledger], Awaitable[str]],
        disk_usage: waits.DiskUsage | None = None,
        alive: Callable[[int], bool] = waits.pid_alive,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._emit, self._save, self._stop = emit, save, stop
        self._resume_point, self._repair = resume_point, repair
        self.machine = Machine(
            settings, emit=emit, disk_usage=disk_usage, alive=alive, monotonic=monotonic
        )
        self.ledger = Ledger()
        self._step: int | None = None  # the best step of the running attempt
        self._env: dict[str, str] = {}
        self._debug_ran = False
        self._command_ran = ""  # the command of the attempt that failed (resume arguments)

    # --- what the engine asks ------------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        """As a sink: the attempt's best step, the latest GPU sample."""
        if isinstance(event, ev.MetricSample) and event.step is not None:
            self._step = max(event.step, self._step if self._step is not None else event.step)
        elif isinstance(event, ev.GpuStatus):
            self.machine.gpu = event
        elif isinstance(event, ev.ProcessStarted):
            self._step, self._command_ran = None, event.command

    def use(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @property
    def command(self) -> str:
        """The training command: the user's, or the one an OOM fix changed (same original)."""
        fix = self.ledger.command
        if fix.get("original") == self.settings.train_cmd and fix.get("command"):
            return fix["command"]
        return self.settings.train_cmd

    def take_env(self) -> dict[str, str]:
        """Extra environment for the attempt about to start (the debug rerun's), once."""
        env, self._env = self._env, {}
        self._debug_ran = bool(env)
        return env

    async def handle(self, failure: Classified, ledger: Ledger) -> ExitCode | None:
        """Decide and act; an exit code ends the run, None restarts it."""
        self.ledger = ledger
        s = self.settings
        mark = await self._mark()
        action, advice = self.machine.measure(failure)
        h = self._history(failure, action, ledger)
        action, why = escalate(failure, action, h)
        advice = why or advice
        h = self._history(failure, action, ledger)
        limits = Limits(
            max_retries=s.max_retries,
            max_restarts=s.max_restarts,
            max_no_progress=s.max_no_progress_restarts,
            cooldown_s=s.cooldown_seconds,
        )
        p = plan(failure, action, h, mark, limits)
        self._emit(_failure_event(failure, p.action, advice))
        self._remember(ledger, failure, mark, p)
        if not p.ok:
            return self._give_up(failure, p.reason, p.rule)
        ledger.attempts[_key(failure, p.action)] = p.attempt
        ledger.restarts += 1
        self._save(ledger)
        reason = await self._act(failure, p.action, ledger)
        if isinstance(reason, ExitCode):
            return reason
        if self._stop.is_set():
            return None
        checkpoint = await self._resume_point()
        self._emit(_restarting(p, ledger, s.max_restarts, reason, checkpoint))
        await waits.pause(self._stop, p.cooldown_s)  # the engine sees a stop that came meanwhile
        return None

    # --- deciding ---------------------------------------------------------------------------

    async def _mark(self) -> Mark:
        s = self.settings
        stamp = 0.0
        if s.checkpoint_glob:
            try:
                newest = await newest_complete(s.project_dir, s.checkpoint_glob, recheck_s=0)
                stamp = newest.stat().st_mtime if newest is not None else 0.0
            except OSError:
                stamp = 0.0
        return Mark(step=self._step, checkpoint=stamp)

    def _history(self, failure: Classified, action: Action, ledger: Ledger) -> History:
        s = self.settings
        return History(
            attempts=ledger.attempts.get(_key(failure, action), 0),
            restarts=ledger.restarts,
            no_progress=ledger.no_progress,
            seen_at=_mark(ledger.marks.get(failure.signature)),
            best=_mark(ledger.best),
            observable=bool(ledger.best and ledger.best[0] >= 0) or bool(s.checkpoint_glob),
            debug_ran=self._debug_ran
            or f"{failure.signature}:{Action.DEBUG_RERUN}" in ledger.attempts,
        )

    def _remember(self, ledger: Ledger, failure: Classified, mark: Mark, p: Plan) -> None:
        sig = failure.signature
        if p.reset:
            for key in [k for k in ledger.attempts if k == sig or k.startswith(f"{sig}:")]:
                del ledger.attempts[key]
        best = _mark(ledger.best) or Mark()
        merged = Mark(
            step=max(x for x in (best.step, mark.step, -1) if x is not None),
            checkpoint=max(best.checkpoint, mark.checkpoint),
        )
        ledger.best = [float(merged.step if merged.step is not None else -1), merged.checkpoint]
        ledger.marks[sig] = list(ledger.best)
        ledger.no_progress = p.no_progress

    def _give_up(self, failure: Classified, reason: str, rule: str) -> ExitCode:
        self._emit(ev.GaveUp(reason=reason, signature=failure.signature, rule=rule))
        self._save(self.ledger)
        return ExitCode.USAGE if failure.kind is FailureKind.LAUNCH else ExitCode.GAVE_UP

    # --- acting -----------------------------------------------------------------------------

    async def _act(self, failure: Classified, action: Action, ledger: Ledger) -> str | ExitCode:
        if action is Action.REPAIR:
            return self._fix_command(failure, ledger) or await self._repair(failure, ledger)
        if action is Action.DEBUG_RERUN:
            self._env = dict(DEBUG_ENV)
            shown = " ".join(f"{k}={v}" for k, v in DEBUG_ENV.items())
            self._emit(ev.Notice(message=f"debug rerun with {shown}: {failure.summary}"))
            return f"debug rerun with {shown} so the traceback points at the failing line"
        if action is Action.RESUME_PREVIOUS:
            why = await resume_previous(self.settings, failure, self._command_ran, self._emit)
            if isinstance(why, Stop):
                return self._give_up(failure, why, "class corrupt_checkpoint: stop")
            return why
        if action is Action.WAIT:
            return await self.machine.wait(failure, self._stop)
        return "restart without changes"

    def _fix_command(self, failure: Classified, ledger: Ledger) -> str:
        s = self.settings
        if failure.kind is not FailureKind.OOM or s.patch_mode == "restart-only":
            return ""
        fix = halve_batch_flag(self.command)
        if fix is None:
            return ""
        if s.patch_mode == "analyze-only" or s.dry_run:
            self._emit(ev.Notice(message=f"out of memory: would halve {fix.shown} (not applied)"))
            return f"out of memory: {fix.shown} suggested, command unchanged"
        why = f"out of memory: batch size halved on the command line ({fix.shown})"
        ledger.command = {"original": s.train_cmd, "command": fix.command, "why": why}
        self._save(ledger)
        self._emit(ev.Notice(message=f"{why}; the training command is now: {fix.command}"))
        return why


def _key(failure: Classified, action: Action) -> str:
    """The attempts of a repair count per signature (as always); other actions per action."""
    return failure.signature if action is Action.REPAIR else f"{failure.signature}:{action}"


def _mark(raw: list[float] | None) -> Mark | None:
    if not raw:
        return None
    step = int(raw[0])
    return Mark(step=step if step >= 0 else None, checkpoint=raw[1] if len(raw) > 1 else 0.0)


def _failure_event(failure: Classified, action: Action, advice: str) -> ev.Failure:
    return ev.Failure(
        kind=failure.kind,
        signature=failure.signature,
        summary=failure.summary,
        exc_type=failure.exc_type,
        location=failure.location,
        repairable=failure.repairable,
        action=action,
        advice=advice,
    )


def _restarting(
    p: Plan, ledger: Ledger, max_restarts: int, reason: str, checkpoint: str | None
) -> ev.Restarting:
    return ev.Restarting(
        attempt=p.attempt,
        max_attempts=p.max_attempts,
        restarts_used=ledger.restarts,
        max_restarts=max_restarts,
        cooldown_s=p.cooldown_s,
        reason=reason,
        checkpoint=checkpoint,
        action=p.action,
        budget=p.budget,
    )
