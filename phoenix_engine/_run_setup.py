"""What surrounds the supervision of a run: the state directory, the lock and the journal,
the ledger's persistence, an orphan of an earlier Phoenix, the data check, the services.

Thin I/O for the engine. Nothing here decides how the training is supervised; each piece
says what failed (a notice) and lets the supervision go on, except the lock, an unusable
state directory and ``PHOENIX_DATA_VERIFY=strict``, which refuse to start.
"""

from __future__ import annotations

__all__ = ["LedgerSaver", "Service", "Services", "open_state_dir", "prepare_run"]

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from phoenix_engine import events as ev
from phoenix_engine._processes import Processes
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import DataError, StateError
from phoenix_engine.io.datacheck import verify
from phoenix_engine.io.journal import JournalSink, OnceIn
from phoenix_engine.io.lock import ProjectLock
from phoenix_engine.io.recovery import recover_applies
from phoenix_engine.io.state_store import Ledger, StateStore

Notice = Callable[[str], None]


class Service(Protocol):
    """Background work that lives as long as a run (a notifier's sender, a remote poller)."""

    async def run(self) -> None: ...

    async def aclose(self) -> None:
        """Finish (flush with a deadline) after the run's last event."""
        ...


@contextlib.contextmanager
def open_state_dir(settings: Settings, redactor: Redactor, notice: Notice) -> Iterator[JournalSink]:
    """Create the state directory, hold the project's lock, keep the journal (run.log)."""
    state_dir = settings.state_dir
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
            redactor=redactor,
            max_bytes=settings.log_max_bytes,
            on_error=notice,
        )
        yield journal
    finally:
        if journal is not None:
            journal.close()
        lock.release()


class LedgerSaver:
    """Persist the ledger; a full disk costs persistence, never the supervision."""

    def __init__(self, store: StateStore, notice: Notice) -> None:
        self.store, self._notice = store, notice
        self._failing = False

    def __call__(self, ledger: Ledger) -> None:
        try:
            self.store.save(ledger)
        except StateError as exc:
            if not self._failing:
                self._notice(f"{exc}; budgets will not survive a restart of phoenix")
            self._failing = True
        else:
            self._failing = False


async def prepare_run(
    s: Settings,
    *,
    store: StateStore,
    processes: Processes,
    emit: Callable[[ev.Event], None],
    save: Callable[[Ledger], None],
    monotonic: Callable[[], float],
    run_id: str,
    repairer: Any,
) -> Ledger:
    """Before the first start: the ledger, an orphan stopped, interrupted applies finished,
    ``run_started``, the data checked, the sandbox probed; returns the ledger."""
    ledger, note = store.load()
    if note:
        emit(ev.Notice(message=note))
    # First: nothing of the last run may still write.
    await _reap_orphan(ledger, processes=processes, grace_s=s.kill_grace_sec, emit=emit, save=save)
    for event in await asyncio.to_thread(recover_applies, s.state_dir, s.project_dir):
        emit(event)
    emit(
        ev.RunStarted(
            command=s.train_cmd,
            project=str(s.project_dir),
            mode=s.patch_mode,
            phoenix_pid=os.getpid(),
            restarts_used=ledger.restarts,
            run_id=run_id,
        )
    )
    await _verify_data(s, emit=emit, monotonic=monotonic)
    prepare = getattr(repairer, "prepare", None)
    if prepare is not None:
        await prepare()  # the sandbox probe: said once, at the start, if it cannot run
    return ledger


async def _reap_orphan(
    ledger: Ledger,
    *,
    processes: Processes,
    grace_s: float,
    emit: Callable[[ev.Event], None],
    save: Callable[[Ledger], None],
) -> None:
    """Stop a training left running by a Phoenix that died (never two on one GPU)."""
    record = ledger.child
    if record is None:
        return
    report = await processes.stop_tree(
        record.pid,
        grace_s=grace_s,
        create_time=record.create_time,
        pgid=record.pgid,
        mark=record.mark,
    )
    if report.signals_sent or report.escaped_killed:
        emit(ev.OrphanReaped(pid=record.pid, command=record.command))
    ledger.child = None
    save(ledger)


async def _verify_data(
    s: Settings, *, emit: Callable[[ev.Event], None], monotonic: Callable[[], float]
) -> None:
    """Compare the data directory with its manifest; strict mode refuses to start."""
    data = s.project_dir / s.data_dir
    if s.data_verify == "off" or not data.is_dir():
        return
    shown = OnceIn(5.0, clock=monotonic)
    loop = asyncio.get_running_loop()

    def notice(message: str) -> None:
        emit(ev.Notice(message=message))

    def progress(done: int, total: int) -> None:
        if total > 1 << 30 and shown():
            text = f"hashing {s.data_dir}/: {done / total:.0%} of {total / 1e9:.1f} GB"
            loop.call_soon_threadsafe(notice, text)

    manifest = s.state_dir / "data_manifest.json"
    stopping = threading.Event()
    try:
        # warn: report once, then the current tree is the reference; strict: keep refusing
        accept = s.data_verify == "warn"
        report = await asyncio.to_thread(
            verify, data, manifest, progress=progress, accept=accept, cancelled=stopping.is_set
        )
    except asyncio.CancelledError:
        stopping.set()  # the hashing thread stops at its next chunk, so Phoenix can exit
        raise
    except OSError as exc:
        notice(f"could not verify {s.data_dir}/: {exc}")
        return
    if report.manifest_error:
        notice(f"{manifest.name} was unreadable ({report.manifest_error}); recorded anew")
    event = report.event()
    if event is not None:
        emit(event)
    if report.problems and s.data_verify == "strict":
        raise DataError(
            f"{s.data_dir}/ changed since the recorded manifest "
            f"({len(report.missing)} missing, {len(report.changed)} changed, "
            f"{len(report.truncated)} truncated, {len(report.unreadable)} unreadable) "
            "and PHOENIX_DATA_VERIFY=strict"
        )


class Services:
    """The run's background services: started with it, closed (flushed) after its end."""

    def __init__(self, notice: Notice) -> None:
        self.services: list[Service] = []
        self._notice = notice
        self._tasks: Sequence[asyncio.Future[None]] = ()

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(svc.run()) for svc in self.services]
        for task in self._tasks:
            task.add_done_callback(self._ended)

    async def close(self) -> None:
        for service in self.services:
            try:
                await asyncio.wait_for(service.aclose(), 10)
            except Exception as exc:  # closing a notifier must not hide the run's outcome
                self._notice(f"a background service did not close cleanly: {exc!r}")
        for task in self._tasks:
            task.cancel()

    def _ended(self, task: asyncio.Future[None]) -> None:
        """A service that dies must say why (the run goes on without it)."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        self._notice(f"a background service stopped: {type(exc).__name__}: {exc}")
