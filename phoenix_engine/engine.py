"""The engine: only sequences. Start the training, watch it, decide, repair, restart.

Its state is one :class:`~phoenix_engine.core.engine_state.EngineState`, moved only through
the transition table. Everything it observes or decides leaves as an event through the sinks;
one run of the child is ``_attempt``, what happens between runs ``_restarts`` and triage
(``triage_actions``), the output ``_output``, the run's surroundings ``_run_setup``, and the
processes come through one seam (``_processes``), as httpx takes a transport.
"""

from __future__ import annotations

__all__ = ["Engine", "Processes", "Repairer"]

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from phoenix_engine import events as ev
from phoenix_engine._processes import Processes
from phoenix_engine._restarts import Repairer
from phoenix_engine._run_setup import Service, open_state_dir
from phoenix_engine._wiring import wire
from phoenix_engine.core.engine_state import ChildOutcome, EngineState, after_child
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.gpu import GpuSampler
from phoenix_engine.io.host import HostSampler
from phoenix_engine.io.state_store import Ledger, StateStore

if TYPE_CHECKING:
    import httpx

_S = EngineState


class Engine:
    """Supervises one project's training run until it completes, gives up or is stopped.

    ``hold_after_end`` (the console, Discord remote control): a stop with ``leave=False`` or a
    give-up leaves Phoenix waiting for :meth:`resume`; a leaving stop still ends the run.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str],
        sinks: Sequence[ev.EventSink] = (),
        repairer: Repairer | None = None,
        approver: ev.Approver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        processes: Processes | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tee: Callable[[bytes], None] | None = None,
        want_lines: bool = False,
        gpu_sampler: GpuSampler | None = None,
        host_sampler: HostSampler | None = None,
        store: StateStore | None = None,
        hold_after_end: bool = False,
    ) -> None:
        self.settings, self._sinks, self.approver = settings, list(sinks), approver
        self._clock, self._mono = clock, monotonic
        p = wire(
            settings,
            env=env,
            emit=self.emit,
            request_stop=self.request_stop,
            processes=processes,
            repairer=repairer,
            approver=approver,
            transport=transport,
            monotonic=monotonic,
            tee=tee,
            want_lines=want_lines,
            gpu_sampler=gpu_sampler,
            host_sampler=host_sampler,
            store=store,
            hold_after_end=hold_after_end,
        )
        self.redactor, self._prepare = p.redactor, p.prepare
        self._control, self._stop = p.control, p.control.stop  # the wake-up for a stop
        self.repairer, self.telemetry, self.output = p.repairer, p.telemetry, p.output
        self.tail, self.heartbeat = p.output.tail, p.output.heartbeat
        self.triage, self._attempts, self._restarts = p.triage, p.attempts, p.restarts
        self._save, self._services = p.save, p.services
        self._sinks.append(self.triage)
        self.run_id = ""  # set when the run starts: ``phoenix review ID``

    # --- public -----------------------------------------------------------------------------

    def add_sink(self, sink: ev.EventSink) -> None:
        self._sinks.append(sink)

    def add_output_hook(self, hook: Callable[[str, bytes], None]) -> None:
        """Raw output chunks (known secrets masked) as they arrive; must not block."""
        self.output.hooks.append(hook)

    def add_service(self, service: Service) -> None:
        """Started when the run starts, closed (flushed) after its last event."""
        self._services.services.append(service)

    def training_pids(self) -> set[int]:
        """The training's processes, or its evaluation's (to tell our GPU memory from others')."""
        return self._attempts.training_pids() | self._restarts.user_pids()

    def emit(self, event: ev.Event) -> None:
        """Deliver an event (``ts`` stamped here) to every sink; a failing sink is skipped."""
        stamped = event if event.ts else dataclasses.replace(event, ts=self._clock())
        if isinstance(stamped, _FINAL) and not stamped.run_id:  # whoever decided the end
            stamped = dataclasses.replace(stamped, run_id=self.run_id)
        for sink in list(self._sinks):
            try:
                sink.emit(stamped)
            except Exception as exc:  # a broken sink must never stop the supervision
                self._sinks.remove(sink)
                self.emit(ev.Notice(message=f"an event sink failed and was removed: {exc!r}"))

    def request_stop(self, reason: str, *, force: bool = False, leave: bool = True) -> None:
        """Stop the training the graceful way; a second request (or ``force``) kills at once.

        ``leave=False`` (a remote ``!stop``) keeps Phoenix waiting for :meth:`resume` when it
        was built with ``hold_after_end``; otherwise, and always for signals, it exits. A
        patch waiting for approval is refused: no answer that comes after may apply it.
        """
        self._control.request_stop(reason, force=force, leave=leave)

    def resume(self, by: str = "operator") -> bool:
        """Restart after a stop or a give-up (budgets cleared); False unless Phoenix waits."""
        return self._control.resume(by)

    @property
    def state(self) -> EngineState:
        return self._control.state

    @property
    def trainlog_bytes(self) -> int:
        """Bytes this run has written to train.log so far (where a milestone falls in it)."""
        return self.output.written

    @property
    def holding(self) -> bool:
        """True while the training is stopped and Phoenix waits for :meth:`resume`."""
        return self.state is _S.HOLDING

    async def run(self) -> ExitCode:
        """Lock the project, supervise until done; raises StateError/LockHeldError up front."""
        if self.state is _S.IDLE:  # a stop requested before the run keeps its state
            self._control.move(_S.PREPARING)
        try:
            with open_state_dir(self.settings, self.redactor, self._notice) as journal:
                self._sinks.insert(0, journal)
                self.output.open()
                ticker = asyncio.ensure_future(self.telemetry.run())
                self._services.start()
                try:
                    # Names the run in the journal (its UTC start, as the journal's timestamps).
                    self.run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self._clock()))
                    return await self._supervise()
                finally:
                    ticker.cancel()
                    await self._services.close()
                    await self._attempts.kill_orphan()
        finally:
            self._control.move(_S.EXITED)

    # --- the sequence -------------------------------------------------------------------------

    async def _supervise(self) -> ExitCode:
        ledger = await self._control.unless_stopped(self._prepare(self.run_id))
        if ledger is None:  # stopped while preparing (a long data hash): nothing started
            return self._stopped()
        while True:
            code = await self._attempts_until_end(ledger)
            done = code in (ExitCode.COMPLETED, ExitCode.NOT_PROMOTED)
            if not self._control.holds_after(done) or not await self._control.hold(self._notice):
                return code
            ledger = Ledger(command=ledger.command)
            self._save(ledger)

    async def _attempts_until_end(self, ledger: Ledger) -> ExitCode:
        self.triage.use(ledger)
        started, attempt, control = self._mono(), 1, self._control
        while True:
            if self._stop.is_set():  # first: a stopping engine moves to no other state
                return self._stopped()
            if self.telemetry.guarded and (code := await self._guarded(ledger)) is not None:
                return code  # it tripped while nothing ran
            if self._stop.is_set():
                return self._stopped()
            control.move(_S.STARTING)
            outcome, failure = await self._attempts.run(
                ledger,
                attempt,
                stop=self._stop,
                force=lambda: control.force,
                started=lambda: control.move_unless_stopping(_S.RUNNING),
            )
            if self._stop.is_set():
                return self._stopped()
            control.move(after_child(outcome))
            if outcome is ChildOutcome.COMPLETED:
                self.emit(ev.RunCompleted(duration_s=self._mono() - started, restarts=attempt - 1))
                self._save(Ledger(command=ledger.command))  # an OOM fix stays (triage_actions)
                return await self._adopt()
            if outcome is ChildOutcome.REFUSED_RESUME:
                code = self._restarts.without_resume_args(ledger)
            elif outcome is ChildOutcome.GUARDED:
                code = await self._guarded(ledger)
            else:
                assert failure is not None
                code = await self.triage.handle(failure, ledger)  # decides and acts
                if code is None and self._stop.is_set():
                    return self._stopped()
            if code is not None:
                return code
            attempt += 1

    async def _guarded(self, ledger: Ledger) -> ExitCode | None:
        """A guard stopped the training: wait until it clears (None) or the run ends."""
        self._control.move(_S.GUARDED)
        code = await self._restarts.wait_for_guard(ledger)
        return self._stopped() if code is ExitCode.STOPPED else code

    async def _adopt(self) -> ExitCode:
        promoted = await self._restarts.promote()
        if self._stop.is_set():
            return self._stopped()
        return ExitCode.NOT_PROMOTED if promoted is False else ExitCode.COMPLETED

    def _stopped(self) -> ExitCode:
        self.emit(ev.Stopped(reason=self._control.reason or "stop requested"))
        return ExitCode.STOPPED

    def _notice(self, message: str) -> None:
        self.emit(ev.Notice(message=message))


_FINAL = (ev.RunCompleted, ev.GaveUp, ev.Stopped)  # the events that end a run carry its id
