"""Between two runs of the training: the repair step, the restarts no failure counts, and
the checkpoint the next run resumes from; after the last run: the model's promotion.

A restart after a failure is triage's (``triage_actions``); the ones here count against
PHOENIX_MAX_RESTARTS only: a guard cleared, or the script refused the resume arguments.
Every wait ends the moment a stop is requested.
"""

from __future__ import annotations

__all__ = ["Repairer", "Restarts"]

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from phoenix_engine import events as ev
from phoenix_engine._attempt import Attempts
from phoenix_engine.core.classify import Classified, FailureKind
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io import proctree
from phoenix_engine.io.checkpoints import newest_complete, resume_command
from phoenix_engine.io.state_store import ChildRecord, Ledger

if TYPE_CHECKING:
    pass


class Repairer(Protocol):
    """The repair loop (LLM diagnosis, vetting, shadow run, approval, apply)."""

    async def repair(
        self, failure: Classified, tail: Sequence[str], ledger: Ledger, *, extra: str = ""
    ) -> str:
        """Try to repair (``extra``: more context, e.g. the loss history); return a short
        account for the ``restarting`` event."""
        ...


class Restarts:
    """One per engine; ``repairer`` may be None (restart without changes)."""

    def __init__(
        self,
        settings: Settings,
        *,
        attempts: Attempts,
        repairer: Repairer | None,
        stop: asyncio.Event,
        emit: Callable[[ev.Event], None],
        save: Callable[[Ledger], None],
    ) -> None:
        self.settings, self.attempts, self.repairer = settings, attempts, repairer
        self._stop, self._emit, self._save = stop, emit, save
        self.evaluating: ChildRecord | None = None  # the evaluation or promotion command

    async def resume_point(self) -> str | None:
        """With PHOENIX_CHECKPOINT_GLOB and PHOENIX_RESUME_ARGS, the next command resumes from
        the newest complete checkpoint; returns it as shown to the operator."""
        s, attempts = self.settings, self.attempts
        attempts.next_cmd = None
        if not (s.checkpoint_glob and s.resume_args) or attempts.resume_refused:
            return None
        try:
            found = await newest_complete(s.project_dir, s.checkpoint_glob)
        except OSError as exc:
            self._notice(f"could not look for checkpoints: {exc}")
            return None
        if found is None:
            self._notice(f"no complete checkpoint matches {s.checkpoint_glob}: starting over")
            return None
        command = attempts.triage.command
        attempts.next_cmd = resume_command(command, s.resume_args, found, s.project_dir)
        try:
            return str(found.relative_to(s.project_dir))
        except ValueError:
            return str(found)

    async def wait_for_guard(self, ledger: Ledger) -> ExitCode | None:
        """A guard stopped the training: wait until it clears (None: restart) or a stop comes
        (STOPPED); counted against PHOENIX_MAX_RESTARTS only, no model is asked."""
        s, telemetry = self.settings, self.attempts.telemetry
        if ledger.restarts >= s.max_restarts:
            reason = f"a guard tripped and the restart cap is reached ({s.max_restarts})"
            self._emit(ev.GaveUp(reason=reason, rule="PHOENIX_MAX_RESTARTS"))
            return ExitCode.GAVE_UP
        cleared = asyncio.ensure_future(telemetry.cleared.wait())
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({cleared, stop}, return_when="FIRST_COMPLETED")
        finally:
            cleared.cancel()
            stop.cancel()
        if self._stop.is_set():
            return ExitCode.STOPPED
        self._counted(ledger, "the guard cleared", await self.resume_point())
        return None

    def without_resume_args(self, ledger: Ledger) -> ExitCode | None:
        """The script refused PHOENIX_RESUME_ARGS: start over without them (one restart)."""
        s = self.settings
        if ledger.restarts >= s.max_restarts:
            reason = f"the restart cap is reached ({s.max_restarts})"
            self._emit(ev.GaveUp(reason=reason, rule="PHOENIX_MAX_RESTARTS"))
            return ExitCode.GAVE_UP
        self.attempts.next_cmd = None
        reason = "the script refused the resume arguments: starting over without them"
        self._counted(ledger, reason, None)
        return None

    async def repair(self, failure: Classified, ledger: Ledger) -> str:
        """The ``repair`` action: the repair loop, when there is one and patches are allowed."""
        s = self.settings
        if self.repairer is None or s.patch_mode == "restart-only":
            return "restart without changes"
        try:
            diverged = failure.kind == FailureKind.DIVERGED
            extra = self.attempts.telemetry.loss_history_text() if diverged else ""
            tail = self.attempts.output.tail.lines(s.tail)
            reason = await self._repair_unless_stopped(failure, tail, ledger, extra)
        except Exception as exc:  # a bug in one repair must not end the night's run
            self._notice(f"the repair step failed unexpectedly: {type(exc).__name__}: {exc}")
            reason = "repair step failed: restart without changes"
        self._save(ledger)
        return reason

    async def _repair_unless_stopped(
        self, failure: Classified, tail: Sequence[str], ledger: Ledger, extra: str
    ) -> str:
        """The repair, cancelled the moment a stop is requested (a model call, a shadow test:
        their process trees are killed on cancellation)."""
        assert self.repairer is not None
        repair = asyncio.ensure_future(self.repairer.repair(failure, tail, ledger, extra=extra))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({repair, stop}, return_when="FIRST_COMPLETED")
        finally:
            stop.cancel()
            if not repair.done():
                repair.cancel()
                await asyncio.wait({repair}, timeout=self.settings.kill_grace_sec + 10)
        if repair.cancelled() or not repair.done():
            return "stopped during the repair"
        return repair.result()

    async def promote(self) -> bool | None:
        """The training completed: evaluate its model and put it in service (promotion.py);
        False when the model was not promoted."""
        from phoenix_engine.promotion import adopt  # most runs have no evaluation

        return await adopt(
            self.settings,
            env=self.attempts.env,
            emit=self._emit,
            output=self.attempts.output.relay(),
            stop=self._stop,
            track=self._track,
        )

    def _track(self, child: ChildRecord | None) -> None:
        """An evaluation or promotion command started (or ended): recorded so that it is
        reaped if Phoenix is killed, and its GPU memory counted as this run's, not another's."""
        self.evaluating = child
        self._save(Ledger(child=child))

    def user_pids(self) -> set[int]:
        """The running evaluation or promotion command's processes."""
        child = self.evaluating
        return proctree.tree_pids(child.pid) if child is not None else set()

    def _counted(self, ledger: Ledger, reason: str, checkpoint: str | None) -> None:
        """A restart that is no failure's attempt: it counts against PHOENIX_MAX_RESTARTS."""
        s = self.settings
        ledger.restarts += 1
        self._save(ledger)
        self._emit(
            ev.Restarting(
                attempt=0,
                max_attempts=0,
                restarts_used=ledger.restarts,
                max_restarts=s.max_restarts,
                cooldown_s=0,
                reason=reason,
                checkpoint=checkpoint,
                budget=f"restart {ledger.restarts} of {s.max_restarts} (PHOENIX_MAX_RESTARTS)",
            )
        )

    def _notice(self, message: str) -> None:
        self._emit(ev.Notice(message=message))
