"""``phoenix review``: the console, read-only, on a run that has ended.

:class:`ReplayEngine` stands where the live engine stands in :class:`PhoenixApp` and feeds it
what the run recorded: the journal's events, the training output from train.log, the loss
and the GPU samples from metrics.jsonl, each milestone where it happened in the output
(:mod:`phoenix_tui.console._replay_events`). The app's keys stay: patches with their diffs,
backups with rollback (done under the project lock and journaled, as ``phoenix rollback``
does); nothing runs, so there is nothing to stop.
"""

from __future__ import annotations

__all__ = ["ReplayEngine", "replay_events", "review_app", "run_review", "run_slice"]

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.history import PastRun
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.recorded import read_metrics
from phoenix_tui.console._replay_events import replay_events, run_slice

if TYPE_CHECKING:
    from phoenix_tui.console.app import PhoenixApp


class ReplayEngine:
    """What the console needs of an engine, fed from the record instead of a training."""

    def __init__(
        self,
        stream: Callable[[], Iterator[ev.Event]],
        *,
        journal: ev.EventSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stream = stream
        self._sinks: list[ev.EventSink] = []
        self._journal = journal
        self._clock = clock
        self.between_samples: Callable[[], None] | None = None  # the app's flush, set by it

    def add_sink(self, sink: ev.EventSink) -> None:
        self._sinks.append(sink)

    def emit(self, event: ev.Event) -> None:
        """What the operator does in the review (a rollback): journaled, then shown."""
        stamped = event if event.ts else dataclasses.replace(event, ts=self._clock())
        if self._journal is not None:
            self._journal.emit(stamped)
        self._show(stamped)

    def _show(self, event: ev.Event) -> None:
        for sink in self._sinks:
            sink.emit(event)

    def request_stop(self, reason: str, *, force: bool = False, leave: bool = True) -> None:
        """Nothing runs in a review."""

    @property
    def holding(self) -> bool:
        return False  # nothing to resume in a review

    def resume(self, by: str = "operator") -> bool:
        return False

    async def run(self) -> ExitCode:
        for n, event in enumerate(self._stream()):
            self._show(event)
            if isinstance(event, ev.GpuStatus) and self.between_samples is not None:
                self.between_samples()  # each sample reaches the GPU pane, not only the last
            if n % 2000 == 1999:
                await asyncio.sleep(0)  # keys and frames between the batches
        return ExitCode.COMPLETED


def review_app(
    settings: Settings,
    runs: list[PastRun],
    run: PastRun,
    *,
    redactor: Redactor,
    journal: ev.EventSink | None = None,
    **app_kwargs: Any,
) -> PhoenixApp:
    """The console on a recorded run (its rollbacks go to ``journal``)."""
    from phoenix_tui.console.app import PhoenixApp

    state_dir = settings.state_dir
    output, placed, skipped = run_slice(state_dir, runs, run)
    recorded = read_metrics(state_dir, run.started_at, run.ended_at)

    def stream() -> Iterator[ev.Event]:
        if placed:
            if skipped:
                yield ev.Notice(
                    ts=run.started_at,
                    message=f"the first {skipped} bytes of this run's output were rotated out "
                    "of train.log (PHOENIX_LOG_MAX_BYTES)",
                )
            yield from replay_events(run, recorded, output, skipped)
            return
        yield ev.Notice(
            ts=run.started_at,
            message="no metrics.jsonl marks for this run: train.log follows the journal",
        )
        yield from replay_events(run, recorded, b"")
        yield ev.OutputLines(stream="stdout", lines=tuple(output.decode().splitlines()))

    engine = ReplayEngine(stream, journal=journal)
    app = PhoenixApp(
        engine=engine,
        approver=ApprovalDesk(default="manual"),
        settings=settings,
        project_name=f"review {run.run_id} · {settings.project_dir.name}",
        redact=redactor.redact,
        **app_kwargs,
    )
    engine.between_samples = app.flush
    return app


def run_review(
    settings: Settings, runs: list[PastRun], run: PastRun, env: Mapping[str, str]
) -> int:
    """Open the console on ``run``, holding the project lock so that a rollback is safe."""
    from phoenix_engine.io.journal import JournalSink
    from phoenix_engine.io.lock import ProjectLock

    lock = ProjectLock(settings.state_dir)
    lock.acquire()  # an engine runs here: LockHeldError names it (`phoenix attach` is for that)
    redactor = Redactor.from_env(env, settings.secrets())
    journal = JournalSink(
        settings.state_dir / "run.log", redactor=redactor, max_bytes=settings.log_max_bytes
    )
    try:
        review_app(settings, runs, run, redactor=redactor, journal=journal).run()
        return 0
    finally:
        journal.close()
        lock.release()
