"""One run of the training: spawn it, record it, watch it, and say what its end means.

The sequencer asks :meth:`Attempts.run` for one run and gets a
:class:`~phoenix_engine.core.engine_state.ChildOutcome` with, for a failure, its
classification. The child is recorded in the ledger while it runs, so that a Phoenix killed
meanwhile finds and stops it next time. A run that resumed from a checkpoint and was refused
its resume arguments (``io.resumeflag``) ends every later restart's use of them.
"""

from __future__ import annotations

__all__ = ["Attempts"]

import asyncio
import contextlib
import hashlib
import signal
from collections.abc import Callable, Mapping

from phoenix_engine import events as ev
from phoenix_engine._output import OutputPipeline
from phoenix_engine._processes import Processes, RunningChild
from phoenix_engine._watch import Watcher
from phoenix_engine.core.classify import Classified, FailureKind, classify
from phoenix_engine.core.command_line import shell_argv  # the one shell rule
from phoenix_engine.core.engine_state import ChildEnd, ChildOutcome
from phoenix_engine.core.settings import Settings
from phoenix_engine.io import proctree
from phoenix_engine.io.resumeflag import rejected
from phoenix_engine.io.state_store import ChildRecord, Ledger
from phoenix_engine.io.supervisor import ExitInfo, SpawnError
from phoenix_engine.io.telemetry import Telemetry
from phoenix_engine.triage_actions import FailureHandler, project_modules

Outcome = tuple[ChildOutcome, Classified | None]


class Attempts:
    """Runs the training, one attempt per :meth:`run`; remembers the running child."""

    def __init__(
        self,
        settings: Settings,
        *,
        processes: Processes,
        env: Mapping[str, str],
        output: OutputPipeline,
        telemetry: Telemetry,
        triage: FailureHandler,
        emit: Callable[[ev.Event], None],
        save: Callable[[Ledger], None],
        stop_run: Callable[[str], None],
        monotonic: Callable[[], float],
    ) -> None:
        self.settings, self._processes, self.env = settings, processes, env
        self._stop_run = stop_run
        self.output, self.telemetry, self.triage = output, telemetry, triage
        self._emit, self._save, self._mono = emit, save, monotonic
        self.watcher = Watcher(
            settings, heartbeat=output.heartbeat, tail=output.tail, emit=emit, monotonic=monotonic
        )
        self.child: RunningChild | None = None
        self.next_cmd: str | None = None  # the command with resume arguments, after a failure
        self.resume_refused = ""  # why the script refused PHOENIX_RESUME_ARGS, once it did
        self._diverged: asyncio.Future[ev.Anomaly] | None = None

    def training_pids(self) -> set[int]:
        """The training process and its descendants (to tell our GPU memory from others')."""
        child = self.child
        if child is None or child.exited:
            return set()
        return proctree.tree_pids(child.pid)

    def kill_now(self) -> None:
        """A second stop request: the running training's tree is killed at once."""
        if self.child is not None and not self.child.exited:
            self.child.kill_now()

    async def kill_orphan(self) -> None:
        """Whatever ended the supervision (an error, a cancelled task), the training ends too:
        it must never run on unsupervised."""
        child = self.child
        if child is not None and not child.exited:
            child.kill_now()
            with contextlib.suppress(Exception):
                await asyncio.shield(child.stop(0.0))

    def on_anomaly(self, anomaly: ev.Anomaly) -> None:
        """A NaN/inf loss: PHOENIX_NAN_ACTION says stop the run, or repair (end this attempt)."""
        action = self.settings.nan_action
        if action == "stop":
            self._stop_run(f"{anomaly.detail} (PHOENIX_NAN_ACTION=stop)")
        elif action == "repair" and self._diverged is not None and not self._diverged.done():
            self._diverged.set_result(anomaly)

    async def run(
        self,
        ledger: Ledger,
        attempt: int,
        *,
        stop: asyncio.Event,
        force: Callable[[], bool],
        started: Callable[[], None],
    ) -> Outcome:
        """One run of the training command, from its spawn to what its end means; ``started``
        is called once the process runs, ``force`` says whether a stop may not wait."""
        command = self.next_cmd or self.triage.command
        argv, via_shell = shell_argv(command)
        self.telemetry.watch.restart()
        self._diverged = asyncio.get_running_loop().create_future()
        self.output.restart()
        self.output.heartbeat.start(self._mono())
        child = await self._spawn(argv, command, ledger, attempt, started)
        if isinstance(child, str):
            return ChildOutcome.FAILED, _launch_failure(command, child)
        end, info = await self.watcher.watch(
            child,
            stop=stop,
            tripped=self.telemetry.tripped,
            diverged=self._diverged,
            force=force,
        )
        self.output.flush()
        duration = round(self._mono() - child.started, 3)
        self._emit(
            ev.ProcessExited(
                pid=child.pid,
                returncode=info.returncode,
                signal=_signal_name(info.signal),
                duration_s=duration,
            )
        )
        self.child = ledger.child = None
        self._save(ledger)
        return self._outcome(command, end, info, duration, via_shell=via_shell)

    async def _spawn(
        self,
        argv: list[str],
        command: str,
        ledger: Ledger,
        attempt: int,
        started: Callable[[], None],
    ) -> RunningChild | str:
        """The started child, or why it could not start."""
        early: list[tuple[str, bytes]] = []  # output that beats process_started waits for it
        relay: list[Callable[[str, bytes], None]] = [
            lambda stream, data: early.append((stream, data))
        ]
        mark = proctree.new_mark()  # finds the training's daemons even after a double fork
        try:
            child = await self._processes.spawn(
                argv,
                cwd=self.settings.project_dir,
                env={**self.env, **self.triage.take_env(), proctree.MARK_ENV: mark},
                on_output=lambda stream, data: relay[0](stream, data),
            )
        except SpawnError as exc:
            return str(exc)
        self.child = child
        ledger.child = ChildRecord.of(child, command=command, mark=mark)
        self._save(ledger)
        started()
        self._emit(ev.ProcessStarted(pid=child.pid, command=command, attempt=attempt))
        relay[0] = self.output.feed
        for stream, data in early:
            self.output.feed(stream, data)
        return child

    def _outcome(
        self, command: str, end: ChildEnd, info: ExitInfo, duration: float, *, via_shell: bool
    ) -> Outcome:
        if end is ChildEnd.EXITED and info.returncode == 0:
            return ChildOutcome.COMPLETED, None
        s = self.settings
        if command != self.triage.command and end is ChildEnd.EXITED:
            why = rejected(self.output.tail.lines(60), info.returncode, duration, s.resume_args)
            if why:
                self.resume_refused = why
                self._emit(
                    ev.Notice(
                        message=f"the training refused the resume arguments ({why!r}): restarts "
                        "run without PHOENIX_RESUME_ARGS from now on"
                    )
                )
                return ChildOutcome.REFUSED_RESUME, None
        if end is ChildEnd.STOPPED:
            return ChildOutcome.STOPPED, None
        if end is ChildEnd.GUARD:
            return ChildOutcome.GUARDED, None
        if end is ChildEnd.DIVERGED and self._diverged is not None and self._diverged.done():
            return ChildOutcome.FAILED, _diverged_failure(self._diverged.result())
        hang = end is ChildEnd.HANG
        return ChildOutcome.FAILED, classify(
            returncode=info.returncode,
            signal=info.signal,
            tail=self.watcher.hang_tail if hang else self.output.tail.lines(s.tail),
            project_dir=s.project_dir,
            hang=hang,
            via_shell=via_shell,
            local_modules=project_modules(s.project_dir),
        )


def _signal_name(signum: int | None) -> str | None:
    if signum is None:
        return None
    try:
        return signal.Signals(signum).name
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
