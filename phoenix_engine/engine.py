"""The engine: only sequences. Run the child, watch it, classify its end, decide, restart.

Everything it observes or decides leaves as an event through the sinks; every decision is a
call into a pure module (signature, budget) and every I/O into a thin one (supervisor, lock,
state, journal, output). The optional repairer (the LLM repair loop) is one more collaborator.
"""

from __future__ import annotations

__all__ = ["Engine", "Repairer", "Spawner", "Stopper", "shell_argv"]

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import signal as _signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import httpx
import psutil

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.classify import Classified, FailureKind, classify
from phoenix_engine.core.command_line import shell_argv  # the one shell rule
from phoenix_engine.core.heartbeat import Heartbeat
from phoenix_engine.core.lines import LineSplitter
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import DataError, ExitCode, StateError
from phoenix_engine.io import proctree
from phoenix_engine.io.checkpoints import newest_complete, resume_command
from phoenix_engine.io.datacheck import verify
from phoenix_engine.io.gpu import GpuSampler
from phoenix_engine.io.host import HostSampler
from phoenix_engine.io.journal import JournalSink, OnceIn, RotatingFile
from phoenix_engine.io.lock import ProjectLock
from phoenix_engine.io.output import OutputTail, TrainLog
from phoenix_engine.io.pulse import CheckpointPulse
from phoenix_engine.io.recovery import recover_applies
from phoenix_engine.io.resumeflag import rejected
from phoenix_engine.io.state_store import ChildRecord, Ledger, StateStore
from phoenix_engine.io.supervisor import Child, ExitInfo, SpawnError, StopReport, spawn, stop_tree
from phoenix_engine.io.telemetry import HintedLines, Telemetry
from phoenix_engine.io.terminal import spawn_pty, terminal_env
from phoenix_engine.triage_actions import FailureHandler, project_modules

Spawner = Callable[..., Awaitable[Child]]
Stopper = Callable[..., Awaitable[StopReport]]

_TRACK_EVERY_S = 2.0


class Service(Protocol):
    """Background work that lives as long as a run (a notifier's sender, a remote poller)."""

    async def run(self) -> None: ...

    async def aclose(self) -> None:
        """Finish (flush with a deadline) after the run's last event."""
        ...


class Repairer(Protocol):
    """The repair loop (LLM diagnosis, vetting, shadow run, approval, apply)."""

    async def repair(
        self, failure: Classified, tail: Sequence[str], ledger: Ledger, *, extra: str = ""
    ) -> str:
        """Try to repair (``extra``: more context, e.g. the loss history); return a short
        account for the ``restarting`` event."""
        ...


class Engine:
    """Supervises one project's training run until it completes, gives up or is stopped."""

    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str],
        sinks: Sequence[ev.EventSink] = (),
        repairer: Repairer | None = None,
        approver: ev.Approver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        spawner: Spawner = spawn,
        stopper: Stopper = stop_tree,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tee: Callable[[bytes], None] | None = None,
        want_lines: bool = False,
        gpu_sampler: GpuSampler | None = None,
        host_sampler: HostSampler | None = None,
        store: StateStore | None = None,
        hold_after_end: bool = False,
    ) -> None:
        self.settings = settings
        self.redactor = Redactor.from_env(env, settings.secrets())
        self._env = terminal_env(
            {**env, "PYTHONUNBUFFERED": env.get("PYTHONUNBUFFERED", "1")}, settings.pty
        )
        self._sinks = list(sinks)
        self.repairer = repairer
        self.approver = approver
        if repairer is None and approver is not None and settings.patch_mode != "restart-only":
            self.repairer = self._default_repairer(approver, env, transport)
        if spawner is spawn and settings.pty == "on":
            spawner = spawn_pty
        self._spawn, self._stop_tree = spawner, stopper
        self._clock, self._mono = clock, monotonic
        self._tee = tee
        self.want_lines = want_lines
        if host_sampler is None:  # the disk guard, the console and metrics.jsonl read it
            host_sampler = HostSampler([settings.project_dir, settings.state_dir])
        self.telemetry = Telemetry(
            settings, emit=self.emit, gpu=gpu_sampler, host=host_sampler, monotonic=monotonic
        )
        self._metric_splitters: dict[str, HintedLines] = {}
        self._diverged: ev.Anomaly | None = None
        self._interrupt = asyncio.Event()  # NaN with PHOENIX_NAN_ACTION=repair
        self._next_cmd: str | None = None  # the command with resume arguments, after a failure
        self._store = store or StateStore(settings.state_dir, redact=self.redactor.redact)
        self._save_failing = False
        self._stop = asyncio.Event()
        self._leave = asyncio.Event()
        self._resume = asyncio.Event()
        self.hold_after_end = hold_after_end
        self._services: list[Service] = []
        self._output_hooks: list[Callable[[str, bytes], None]] = []
        self._holding = False
        self._resume_by = ""
        self._stop_reason = ""
        self._force = False
        self._child: Child | None = None
        self.tail = OutputTail()
        self._trainlog: TrainLog | None = None
        self._splitters: dict[str, LineSplitter] = {}
        self.heartbeat = Heartbeat(
            heartbeat_min=settings.heartbeat_min,
            startup_min=settings.heartbeat_startup_min,
            learn=settings.heartbeat_learn,
        )
        self._pulse = CheckpointPulse(settings.project_dir, settings.checkpoint_glob)
        self._pulse_at = 0.0
        self._resume_refused = ""  # why the script refused PHOENIX_RESUME_ARGS, once it did
        self._hang_tail: list[str] = []
        self.triage = FailureHandler(
            settings,
            emit=self.emit,
            save=self._save,
            stop=self._stop,
            resume_point=self._resume_point,
            repair=self._repair,
        )
        self._sinks.append(self.triage)
        self.run_id = ""  # set when the run starts: ``phoenix review ID``

    # --- public -----------------------------------------------------------------------------

    def add_sink(self, sink: ev.EventSink) -> None:
        self._sinks.append(sink)

    def add_output_hook(self, hook: Callable[[str, bytes], None]) -> None:
        """Raw output chunks (known secrets masked) as they arrive; must not block."""
        self._output_hooks.append(hook)

    def add_service(self, service: Service) -> None:
        """Started when the run starts, closed (flushed) after its last event."""
        self._services.append(service)

    def training_pids(self) -> set[int]:
        """The training process and its descendants (to tell our GPU memory from others')."""
        child = self._child
        if child is None or child.exited:
            return set()
        try:
            proc = psutil.Process(child.pid)
            return {child.pid, *(p.pid for p in proc.children(recursive=True))}
        except psutil.Error:
            return {child.pid}

    def emit(self, event: ev.Event) -> None:
        """Deliver an event (``ts`` stamped here) to every sink; a failing sink is skipped."""
        stamped = event if event.ts else _stamp(event, self._clock())
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
        was built with ``hold_after_end``; otherwise, and always for signals, it exits.
        """
        if self._stop.is_set() or force:
            self._force = True
            if self._child is not None and not self._child.exited:
                self._child.kill_now()
        if not self._stop_reason:
            self._stop_reason = reason
        if isinstance(self.approver, ApprovalDesk):
            self.approver.reject_all(f"phoenix is stopping: {reason}")
        if leave or not self.hold_after_end:
            self._leave.set()
        self._stop.set()

    def resume(self, by: str = "operator") -> bool:
        """Restart after a stop or a give-up (budgets cleared); False unless Phoenix waits."""
        if not self._holding:
            return False
        self._resume_by = by
        self._resume.set()
        return True

    @property
    def trainlog_bytes(self) -> int:
        """Bytes this run has written to train.log so far (where a milestone falls in it)."""
        return self._trainlog.written if self._trainlog is not None else 0

    @property
    def holding(self) -> bool:
        """True while the training is stopped and Phoenix waits for :meth:`resume`."""
        return self._holding

    async def run(self) -> ExitCode:
        """Lock the project, supervise until done; raises StateError/LockHeldError up front."""
        state_dir = self.settings.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {state_dir}: {exc.strerror or exc}") from exc
        # Phoenix's state never shows up as untracked in the user's git repository.
        with contextlib.suppress(OSError), (state_dir / ".gitignore").open("x") as ignore:
            ignore.write("*\n")
        lock = ProjectLock(state_dir)
        lock.acquire()
        journal: JournalSink | None = None
        try:
            journal = JournalSink(
                state_dir / "run.log",
                redactor=self.redactor,
                max_bytes=self.settings.log_max_bytes,
                on_error=self._notice,
            )
            self._sinks.insert(0, journal)
            self._trainlog = TrainLog(
                self._open_trainlog(), redactor=self.redactor, on_error=self._notice
            )
            ticker = asyncio.ensure_future(self.telemetry.run())
            services = [asyncio.ensure_future(svc.run()) for svc in self._services]
            for task in services:
                task.add_done_callback(self._service_ended)
            try:
                # Names the run in the journal (its UTC start, as the journal's timestamps).
                self.run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self._clock()))
                return await self._supervise()
            finally:
                ticker.cancel()
                await self._close_services(services)
                await self._kill_orphaned_child()
        finally:
            if journal is not None:
                journal.close()
            lock.release()

    # --- the loop -----------------------------------------------------------------------------

    async def _supervise(self) -> ExitCode:
        ledger, note = self._store.load()
        if note:
            self._notice(note)
        await self._reap_orphan(ledger)  # first: nothing of the last run may still write
        for event in await asyncio.to_thread(
            recover_applies, self.settings.state_dir, self.settings.project_dir
        ):
            self.emit(event)
        s = self.settings
        self.emit(
            ev.RunStarted(
                command=s.train_cmd,
                project=str(s.project_dir),
                mode=s.patch_mode,
                phoenix_pid=os.getpid(),
                restarts_used=ledger.restarts,
                run_id=self.run_id,
            )
        )
        await self._verify_data()
        prepare = getattr(self.repairer, "prepare", None)
        if prepare is not None:
            await prepare()  # the sandbox probe: said once, at the start, if it cannot run
        while True:
            code = await self._attempts(ledger)
            done = code in (ExitCode.COMPLETED, ExitCode.NOT_PROMOTED)
            if done or not self.hold_after_end or self._leave.is_set():
                return code
            if not await self._wait_for_resume():
                return code
            ledger = Ledger(command=ledger.command)
            self._save(ledger)

    async def _attempts(self, ledger: Ledger) -> ExitCode:
        self.triage.use(ledger)
        started = self._mono()
        attempt = 1
        while True:
            if self.telemetry.guarded:  # tripped while nothing ran
                code = await self._wait_for_guard(ledger)
                if code is not None:
                    return code
            outcome, failure = await self._run_child(ledger, attempt)
            if self._stop.is_set():
                return self._stopped()
            if outcome == "completed":
                self.emit(ev.RunCompleted(duration_s=self._mono() - started, restarts=attempt - 1))
                self._save(Ledger(command=ledger.command))  # an OOM fix stays (triage_actions)
                return await self._adopt()
            if outcome == "refused":
                code = self._restart_without_resume_args(ledger)
            elif outcome == "guard":
                code = await self._wait_for_guard(ledger)
            else:
                assert failure is not None
                code = await self._after_failure(failure, ledger)
            if code is not None:
                return code
            attempt += 1

    async def _wait_for_guard(self, ledger: Ledger) -> ExitCode | None:
        """A guard stopped the training: wait until it clears, then restart (counted against
        PHOENIX_MAX_RESTARTS only; no model is asked)."""
        s = self.settings
        if ledger.restarts >= s.max_restarts:
            reason = f"a guard tripped and the restart cap is reached ({s.max_restarts})"
            self.emit(ev.GaveUp(reason=reason, rule="PHOENIX_MAX_RESTARTS"))
            return ExitCode.GAVE_UP
        cleared = asyncio.ensure_future(self.telemetry.cleared.wait())
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({cleared, stop}, return_when="FIRST_COMPLETED")
        finally:
            cleared.cancel()
            stop.cancel()
        if self._stop.is_set():
            return self._stopped()
        self._counted_restart(ledger, "the guard cleared", await self._resume_point())
        return None

    def _restart_without_resume_args(self, ledger: Ledger) -> ExitCode | None:
        """The script refused PHOENIX_RESUME_ARGS: start over without them (one restart)."""
        s = self.settings
        if ledger.restarts >= s.max_restarts:
            reason = f"the restart cap is reached ({s.max_restarts})"
            self.emit(ev.GaveUp(reason=reason, rule="PHOENIX_MAX_RESTARTS"))
            return ExitCode.GAVE_UP
        self._next_cmd = None
        reason = "the script refused the resume arguments: starting over without them"
        self._counted_restart(ledger, reason, None)
        return None

    def _counted_restart(self, ledger: Ledger, reason: str, checkpoint: str | None) -> None:
        """A restart that is no failure's attempt (a guard cleared, resume args refused): it
        counts against PHOENIX_MAX_RESTARTS only."""
        s = self.settings
        ledger.restarts += 1
        self._save(ledger)
        self.emit(
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

    async def _resume_point(self) -> str | None:
        """With PHOENIX_CHECKPOINT_GLOB and PHOENIX_RESUME_ARGS, the next command resumes from
        the newest complete checkpoint; returns it as shown to the operator."""
        s = self.settings
        self._next_cmd = None
        if not (s.checkpoint_glob and s.resume_args) or self._resume_refused:
            return None
        try:
            found = await newest_complete(s.project_dir, s.checkpoint_glob)
        except OSError as exc:
            self._notice(f"could not look for checkpoints: {exc}")
            return None
        if found is None:
            self._notice(f"no complete checkpoint matches {s.checkpoint_glob}: starting over")
            return None
        self._next_cmd = resume_command(self.triage.command, s.resume_args, found, s.project_dir)
        try:
            return str(found.relative_to(s.project_dir))
        except ValueError:
            return str(found)

    async def _wait_for_resume(self) -> bool:
        """Hold after a stop or give-up until resumed (True) or told to leave (False)."""
        self._holding = True
        self._notice("the training is stopped; waiting for a resume (Discord: !resume)")
        resume = asyncio.ensure_future(self._resume.wait())
        leave = asyncio.ensure_future(self._leave.wait())
        try:
            await asyncio.wait({resume, leave}, return_when="FIRST_COMPLETED")
        finally:
            resume.cancel()
            leave.cancel()
            self._holding = False
        if self._leave.is_set():
            return False
        self._resume.clear()
        self._stop.clear()
        self._stop_reason = ""
        self._force = False
        self._notice(f"resumed by {self._resume_by}: budgets cleared, restarting the training")
        return True

    async def _after_failure(self, failure: Classified, ledger: Ledger) -> ExitCode | None:
        """Triage decides and acts (triage_actions.py); an exit code ends the run, None restarts."""
        code = await self.triage.handle(failure, ledger)
        return self._stopped() if code is None and self._stop.is_set() else code

    async def _repair(self, failure: Classified, ledger: Ledger) -> str:
        """The ``repair`` action: the repair loop, when there is one and patches are allowed."""
        s = self.settings
        if self.repairer is None or s.patch_mode == "restart-only":
            return "restart without changes"
        try:
            diverged = failure.kind == FailureKind.DIVERGED
            extra = self.telemetry.loss_history_text() if diverged else ""
            tail = self.tail.lines(s.tail)
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

    async def _adopt(self) -> ExitCode:
        """The training completed: evaluate its model and put it in service (promotion.py)."""
        from phoenix_engine.io.usercmd import OutputRelay
        from phoenix_engine.promotion import adopt

        relay = OutputRelay(
            trainlog=self._trainlog,
            redactor=self.redactor,
            tee=self._tee,
            hooks=self._output_hooks,
            emit=self.emit if self.want_lines else None,
        )
        promoted = await adopt(
            self.settings,
            env=self._env,
            emit=self.emit,
            output=relay,
            stop=self._stop,
            track=lambda child: self._save(Ledger(child=child)),  # reaped if we are killed
        )
        if self._stop.is_set():
            return self._stopped()
        return ExitCode.NOT_PROMOTED if promoted is False else ExitCode.COMPLETED

    def _stopped(self) -> ExitCode:
        self.emit(ev.Stopped(reason=self._stop_reason or "stop requested"))
        return ExitCode.STOPPED

    async def _run_child(self, ledger: Ledger, attempt: int) -> tuple[str, Classified | None]:
        """One run of the training command: ("completed" | "stopped" | "guard", None) or
        ("failed", its failure)."""
        command = self._next_cmd or self.triage.command
        argv, via_shell = shell_argv(command)
        self.telemetry.watch.restart()
        self._diverged = None
        self._interrupt.clear()
        self.tail.clear()
        self._splitters.clear()
        self.heartbeat.start(self._mono())
        early: list[tuple[str, bytes]] = []  # output that beats process_started waits for it
        relay: list[Callable[[str, bytes], None]] = [
            lambda stream, data: early.append((stream, data))
        ]
        mark = proctree.new_mark()  # finds the training's daemons even after a double fork
        try:
            child = await self._spawn(
                argv,
                cwd=self.settings.project_dir,
                env={**self._env, **self.triage.take_env(), proctree.MARK_ENV: mark},
                on_output=lambda stream, data: relay[0](stream, data),
            )
        except SpawnError as exc:
            return "failed", _launch_failure(command, str(exc))
        self._child = child
        ledger.child = ChildRecord(
            pid=child.pid,
            pgid=child.pgid,
            create_time=child.create_time,
            command=command,
            mark=mark,
        )
        self._save(ledger)
        self.emit(ev.ProcessStarted(pid=child.pid, command=command, attempt=attempt))
        relay[0] = self._on_output
        for stream, data in early:
            self._on_output(stream, data)
        outcome, info = await self._watch(child)
        self._end_of_output()
        self.emit(
            ev.ProcessExited(
                pid=child.pid,
                returncode=info.returncode,
                signal=_signal_name(info.signal),
                duration_s=round(self._mono() - child.started, 3),
            )
        )
        self._child = None
        ledger.child = None
        self._save(ledger)
        if outcome == "exited" and info.returncode == 0:
            return "completed", None
        if command != self.triage.command and outcome == "exited":
            why = rejected(
                self.tail.lines(60),
                info.returncode,
                self._mono() - child.started,
                self.settings.resume_args,
            )
            if why:
                self._resume_refused = why
                self._notice(
                    f"the training refused the resume arguments ({why!r}): restarts run "
                    "without PHOENIX_RESUME_ARGS from now on"
                )
                return "refused", None
        if outcome in ("stopped", "guard"):
            return outcome, None
        if outcome == "diverged" and self._diverged is not None:
            return "failed", _diverged_failure(self._diverged)
        return "failed", classify(
            returncode=info.returncode,
            signal=info.signal,
            tail=self._hang_tail if outcome == "hang" else self.tail.lines(self.settings.tail),
            project_dir=self.settings.project_dir,
            hang=outcome == "hang",
            via_shell=via_shell,
            local_modules=project_modules(self.settings.project_dir),
        )

    async def _watch(self, child: Child) -> tuple[str, ExitInfo]:
        """Wait for the exit, a stop request or a silence past the heartbeat."""
        waiter = asyncio.ensure_future(child.wait())
        stopper = asyncio.ensure_future(self._stop.wait())
        guard = asyncio.ensure_future(self.telemetry.tripped.wait())
        diverged = asyncio.ensure_future(self._interrupt.wait())
        try:
            while True:
                left = self._silence_left()
                timeout = _TRACK_EVERY_S if left is None else min(left, _TRACK_EVERY_S)
                done, _ = await asyncio.wait(
                    {waiter, stopper, guard, diverged},
                    timeout=timeout,
                    return_when="FIRST_COMPLETED",
                )
                if not done:
                    # Remember descendants while the tree is intact: one that calls setsid()
                    # and outlives its parent can only be swept if it was seen before.
                    child.track_descendants()
                    await self._checkpoint_life()
                if waiter in done:
                    await self._sweep_leftovers(child)
                    return "exited", waiter.result()
                if stopper in done:
                    await child.stop(0.0 if self._force else self.settings.kill_grace_sec)
                    return "stopped", await waiter
                if guard in done or diverged in done:
                    await child.stop(self.settings.kill_grace_sec)
                    return ("guard" if guard in done else "diverged"), await waiter
                if self.heartbeat.left(self._mono()) <= 0:
                    silent = self.heartbeat.silent(self._mono())
                    self.emit(
                        ev.HangDetected(
                            pid=child.pid,
                            silent_s=round(silent, 3),
                            last_line=self.tail.last_line(),
                        )
                    )
                    self._hang_tail = self.tail.lines(self.settings.tail)  # before the SIGINT
                    await child.stop(self.settings.kill_grace_sec)
                    return "hang", await waiter
        finally:
            for task in (stopper, guard, diverged):
                task.cancel()

    def _service_ended(self, task: asyncio.Future[None]) -> None:
        """A service that dies must say why (the run goes on without it)."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        self._notice(f"a background service stopped: {type(exc).__name__}: {exc}")

    async def _close_services(self, tasks: Sequence[asyncio.Future[None]]) -> None:
        for service in self._services:
            try:
                await asyncio.wait_for(service.aclose(), 10)
            except Exception as exc:  # closing a notifier must not hide the run's outcome
                self._notice(f"a background service did not close cleanly: {exc!r}")
        for task in tasks:
            task.cancel()

    async def _kill_orphaned_child(self) -> None:
        """Whatever ended the supervision (an error, a cancelled task), the training ends too:
        it must never run on unsupervised."""
        child = self._child
        if child is not None and not child.exited:
            child.kill_now()
            with contextlib.suppress(Exception):
                await asyncio.shield(child.stop(0.0))

    async def _sweep_leftovers(self, child: Child) -> None:
        """The training exited: stop what it left behind (workers, escaped grandchildren)
        before anything restarts, so two trainings never share the GPU."""
        report = await child.stop(self.settings.kill_grace_sec)
        if report.signals_sent or report.escaped_killed:
            sent = "/".join(report.signals_sent) or "SIGKILL"
            self._notice(f"the training exited but left processes behind; stopped them ({sent})")

    async def _checkpoint_life(self) -> None:
        """Checkpoint files grew (looked at after 30 s of silence, then every 10 s at most;
        sooner under a short limit)."""
        now, limit = self._mono(), self.heartbeat.limit
        if self.heartbeat.silent(now) < min(30, limit / 2) or now - self._pulse_at < min(
            10, limit / 4
        ):
            return
        self._pulse_at = now
        if await asyncio.to_thread(self._pulse.changed):
            self.heartbeat.alive(self._mono())

    def _silence_left(self) -> float | None:
        """How long the watcher may sleep: never past the heartbeat, because the training's
        first words switch from the start-up allowance to the (shorter) heartbeat."""
        limit = self.heartbeat.limit
        if limit == float("inf"):
            return None
        left = max(0.0, self.heartbeat.left(self._mono())) + 0.001
        beat = self.settings.heartbeat_min * 60.0
        return min(left, beat) if beat > 0 else left

    # --- output -------------------------------------------------------------------------------

    def _on_output(self, stream: str, data: bytes) -> None:
        now = self.telemetry.last_output_at = self._mono()
        notice = self.heartbeat.output(stream, data, now)
        if notice is not None:
            self.emit(notice)
        self.tail.add(stream, data)
        assert self._trainlog is not None
        written = self._trainlog.write(stream, data)
        if written and self._tee is not None:
            self._tee(written)
        if self._output_hooks:
            masked = self.redactor.redact_known_bytes(data)
            for hook in self._output_hooks:
                hook(stream, masked)
        if self.want_lines:
            splitter = self._splitters.setdefault(stream, LineSplitter())
            # Whole lines are redacted, so a secret split across two reads is masked too.
            lines = self.redactor.redact_lines(splitter.feed(data))
            if lines:
                self.emit(ev.OutputLines(stream=stream, lines=tuple(lines)))
        # Metrics read the raw stream in both modes: the bar frames a line overwrites count.
        self._on_metric_lines(self._metric_lines(stream, data))

    def _metric_lines(self, stream: str, data: bytes) -> list[str]:
        """Lines that may carry metrics; the rest of a chunk is never split or decoded."""
        finder = self._metric_splitters.get(stream)
        if finder is None:
            finder = self._metric_splitters[stream] = self.telemetry.lines_for()
        return finder.feed(data)

    def _on_metric_lines(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        for anomaly in self.telemetry.on_lines(lines):
            action = self.settings.nan_action
            if action == "stop":
                self.request_stop(f"{anomaly.detail} (PHOENIX_NAN_ACTION=stop)")
            elif action == "repair" and self._diverged is None:
                self._diverged = anomaly
                self._interrupt.set()

    def _end_of_output(self) -> None:
        assert self._trainlog is not None
        rest = self._trainlog.flush()
        if rest and self._tee is not None:
            self._tee(rest)
        for stream, splitter in self._splitters.items():
            lines = self.redactor.redact_lines(splitter.flush())
            if lines:
                self.emit(ev.OutputLines(stream=stream, lines=tuple(lines)))
        for finder in self._metric_splitters.values():
            self._on_metric_lines(finder.flush())
        self._metric_splitters.clear()
        self.telemetry.flush_sample()

    def _open_trainlog(self) -> RotatingFile | None:
        path = self.settings.state_dir / "train.log"
        try:
            return RotatingFile(path, max_bytes=self.settings.log_max_bytes)
        except OSError as exc:
            self._notice(f"cannot open {path}: {exc.strerror or exc}; output is not kept")
            return None

    # --- helpers ------------------------------------------------------------------------------

    def _default_repairer(
        self,
        approver: ev.Approver,
        env: Mapping[str, str],
        transport: httpx.AsyncBaseTransport | None,
    ) -> Repairer:
        from phoenix_engine.llm.chain import build_chain
        from phoenix_engine.repair import RepairLoop

        chain = build_chain(self.settings, env=env, emit=self.emit, transport=transport)
        return RepairLoop(
            self.settings,
            chain=chain,
            approver=approver,
            emit=self.emit,
            redactor=self.redactor,
            env=self._env,
        )

    async def _reap_orphan(self, ledger: Ledger) -> None:
        """Stop a training left running by a Phoenix that died (never two on one GPU)."""
        record = ledger.child
        if record is None:
            return
        report = await self._stop_tree(
            record.pid,
            grace_s=self.settings.kill_grace_sec,
            create_time=record.create_time,
            pgid=record.pgid,
            mark=record.mark,
        )
        if report.signals_sent or report.escaped_killed:
            self.emit(ev.OrphanReaped(pid=record.pid, command=record.command))
        ledger.child = None
        self._save(ledger)

    async def _verify_data(self) -> None:
        """Compare the data directory with its manifest; strict mode refuses to start."""
        s = self.settings
        data = s.project_dir / s.data_dir
        if s.data_verify == "off" or not data.is_dir():
            return
        shown = OnceIn(5.0, clock=self._mono)

        def progress(done: int, total: int) -> None:
            if total > 1 << 30 and shown():
                self._loop.call_soon_threadsafe(
                    self._notice,
                    f"hashing {s.data_dir}/: {done / total:.0%} of {total / 1e9:.1f} GB",
                )

        self._loop = asyncio.get_running_loop()
        manifest = s.state_dir / "data_manifest.json"
        try:
            # warn: report once, then the current tree is the reference; strict: keep refusing
            accept = s.data_verify == "warn"
            report = await asyncio.to_thread(
                verify, data, manifest, progress=progress, accept=accept
            )
        except OSError as exc:
            self._notice(f"could not verify {s.data_dir}/: {exc}")
            return
        if report.manifest_error:
            self._notice(f"{manifest.name} was unreadable ({report.manifest_error}); recorded anew")
        event = report.event()
        if event is not None:
            self.emit(event)
        if report.problems and s.data_verify == "strict":
            raise DataError(
                f"{s.data_dir}/ changed since the recorded manifest "
                f"({len(report.missing)} missing, {len(report.changed)} changed, "
                f"{len(report.truncated)} truncated, {len(report.unreadable)} unreadable) "
                "and PHOENIX_DATA_VERIFY=strict"
            )

    def _save(self, ledger: Ledger) -> None:
        """Persist the ledger; a full disk costs persistence, never the supervision."""
        try:
            self._store.save(ledger)
        except StateError as exc:
            if not self._save_failing:
                self._notice(f"{exc}; budgets will not survive a restart of phoenix")
            self._save_failing = True
        else:
            self._save_failing = False

    def _notice(self, message: str) -> None:
        self.emit(ev.Notice(message=message))


_FINAL = (ev.RunCompleted, ev.GaveUp, ev.Stopped)  # the events that end a run carry its id


def _stamp(event: ev.Event, ts: float) -> ev.Event:
    return dataclasses.replace(event, ts=ts)


def _signal_name(signum: int | None) -> str | None:
    if signum is None:
        return None
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _launch_failure(command: str, reason: str) -> Classified:
    return Classified(
        kind=FailureKind.LAUNCH,
        signature=hashlib.sha256(f"launch|{command}".encode()).hexdigest()[:16],
        summary=f"cannot start {command!r}: {reason}",
        repairable=False,
    )


def _diverged_failure(anomaly: ev.Anomaly) -> Classified:
    return Classified(
        kind=FailureKind.DIVERGED,
        signature=hashlib.sha256(b"diverged|nan").hexdigest()[:16],
        summary=anomaly.detail,
    )
