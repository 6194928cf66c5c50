"""Helpers for the console tests: a scripted engine, settings, a deterministic app.

:class:`ScriptedEngine` stands in for ``Engine`` where real timing would make a test slow or
a snapshot flaky: it delivers the events a test scripts, asks the real :class:`ApprovalDesk`
exactly as the repair loop does, and stops like the engine (a graceful stop answers every
waiting patch "no", then ``stopped``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import waiting

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import Settings, resolve
from phoenix_engine.errors import ExitCode
from phoenix_tui.console.app import PhoenixApp

TS = 1_763_780_000.0  # a fixed wall time for every scripted event
DIFF = """\
--- a/train.py
+++ b/train.py
@@ -26,3 +26,3 @@
 def lr_at(step):
-    return 0.5 * lerning_rate
+    return 0.5 * learning_rate
"""


def utc_hms(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def settings_for(project: Path, **env: str) -> Settings:
    base = {"PHOENIX_TRAIN_CMD": "python train.py", "PHOENIX_PRIMARY": "builtin"}
    return resolve(project_dir=project, env=base | env)


def proposal(patch_id: str = "de6e9b62acff", **fields: Any) -> ev.PatchProposed:
    values: dict[str, Any] = dict(
        id=patch_id,
        provider="builtin",
        signature="300df784282eb9c6",
        paths=("train.py",),
        diff=DIFF,
        diagnosis="NameError: 'lerning_rate' does not exist; Python suggests 'learning_rate'.",
    )
    return ev.PatchProposed(**(values | fields))


class ScriptedEngine:
    """Runs until stopped (or :meth:`finish`); emits what the test says, when it says."""

    def __init__(
        self, desk: ApprovalDesk, *, stop_takes_s: float = 0.0, hold: bool = False
    ) -> None:
        self.desk = desk
        self.hold = hold  # like Engine(hold_after_end=True): a stop that may stay waits
        self.holding = False
        self.leaves: list[bool] = []  # each stop request's ``leave``
        self._resume: asyncio.Event | None = None
        self._leaving = False
        self.resumed_by = ""
        self.sinks: list[ev.EventSink] = []
        self.emitted: list[ev.Event] = []
        self.stop_requests: list[tuple[str, bool]] = []
        self.stop_takes_s = stop_takes_s
        self.stop_gate: asyncio.Event | None = None  # a graceful stop waits for it, if set
        self.started = False
        self._stop: asyncio.Event | None = None
        self._final: tuple[ExitCode, ev.Event] | None = None
        self._finished: asyncio.Event | None = None

    # --- the EngineLike protocol ---------------------------------------------------------------

    def add_sink(self, sink: ev.EventSink) -> None:
        self.sinks.append(sink)

    def emit(self, event: ev.Event) -> None:
        stamped = event if event.ts else dataclasses.replace(event, ts=TS)
        self.emitted.append(stamped)
        for sink in self.sinks:
            sink.emit(stamped)

    def request_stop(self, reason: str, *, force: bool = False, leave: bool = True) -> None:
        self.stop_requests.append((reason, force))
        self.leaves.append(leave)
        self.desk.cancel_pending(f"phoenix is stopping: {reason}")
        if self._stop is not None:
            self._stop.set()
        if leave and self._resume is not None:
            self._leaving = True
            self._resume.set()

    def resume(self, by: str = "operator") -> bool:
        if not self.holding or self._resume is None:
            return False
        self.resumed_by = by
        self._resume.set()
        return True

    async def run(self) -> ExitCode:
        self._resume, self._leaving = asyncio.Event(), False
        self.started = True
        self.emit(
            ev.RunStarted(
                command="python train.py", project="/srv/demo", mode="auto", phoenix_pid=4242
            )
        )
        while True:
            code = await self._attempt()
            if not self.hold or self._leaving or self.leaves[-1:] != [False]:
                return code
            self.holding = True  # like the engine: wait for a resume, or to be told to leave
            await self._resume.wait()
            self.holding = False
            if self._leaving:
                return code
            self._resume.clear()
            self.stop_requests.clear()
            self.leaves.clear()

    async def _attempt(self) -> ExitCode:
        self._stop, self._finished = asyncio.Event(), asyncio.Event()
        self.emit(ev.ProcessStarted(pid=4243, command="python train.py", attempt=1))
        stop = asyncio.ensure_future(self._stop.wait())
        finish = asyncio.ensure_future(self._finished.wait())
        await asyncio.wait({stop, finish}, return_when="FIRST_COMPLETED")
        stop.cancel()
        finish.cancel()
        if self._final is not None:
            code, event = self._final
            self.emit(event)
            return code
        await asyncio.sleep(self.stop_takes_s)
        if self.stop_gate is not None:
            await self.stop_gate.wait()
        self.emit(ev.Stopped(reason=self.stop_requests[0][0]))
        return ExitCode.STOPPED

    # --- scripting -----------------------------------------------------------------------------

    def finish(self, code: ExitCode, event: ev.Event) -> None:
        self._final = (code, event)
        assert self._finished is not None
        self._finished.set()

    async def repair(self, patch: ev.PatchProposed) -> ev.Decision:
        """What the repair loop does for a vetted patch: propose, shadow, ask, apply."""
        self.emit(ev.Failure(kind="exception", signature=patch.signature, summary="NameError"))
        self.emit(ev.RepairRequested(signature=patch.signature, attempt=1, providers=("builtin",)))
        self.emit(patch)
        self.emit(ev.ShadowPassed(id=patch.id))
        self.emit(ev.ApprovalRequested(id=patch.id))
        decision = await self.desk.approve(patch)
        if decision.approved:
            backup = "20261122-031500-de6e9b"
            self.emit(
                ev.PatchApplied(id=patch.id, backup_id=backup, paths=(), approved_by=decision.by)
            )
        else:
            reason = f"not approved ({decision.by}): {decision.reason}"
            self.emit(ev.PatchRejected(id=patch.id, reason=reason))
        return decision


def make_app(
    project: Path,
    *,
    approval: str = "",
    clock: Callable[[], float] = lambda: 0.0,
    wall: Callable[[], float] = lambda: TS,
    hold: bool = False,
    app_class: type[PhoenixApp] = PhoenixApp,
    **env: str,
) -> tuple[PhoenixApp, ScriptedEngine]:
    """A console on a scripted engine with a frozen clock (deterministic frames)."""
    settings = settings_for(project, PHOENIX_APPROVAL=approval, **env)
    desk = ApprovalDesk(settings.approval, default="manual")
    engine = ScriptedEngine(desk, hold=hold)
    app = app_class(
        engine=engine,
        approver=desk,
        settings=settings,
        project_name="demo-project",
        clock=clock,
        wall=wall,
        stamp=utc_hms,
    )
    return app, engine


async def until(pilot: Any, check: Any, timeout: float = 10.0) -> None:
    """Let the app run until ``check()`` holds (bounded): waiting.until, paced by the pilot."""
    await waiting.until(check, timeout, what="the console", interval=0.02, pause=pilot.pause)
