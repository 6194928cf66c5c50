"""``phoenix promote CANDIDATE [--force]`` and ``phoenix promote --rollback``.

A thin front end over :mod:`phoenix_engine.promotion`: it takes the project lock (never under
a running engine's feet, as ``phoenix rollback``), journals the events, prints them like the
headless front end, and sends the evaluation's output to stdout and ``train.log``.
"""

from __future__ import annotations

__all__ = ["run_promote"]

import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ConfigError, ExitCode
from phoenix_engine.io.journal import JournalSink, RotatingFile
from phoenix_engine.io.lock import ProjectLock
from phoenix_engine.io.output import TrainLog
from phoenix_engine.io.usercmd import OutputRelay
from phoenix_engine.promotion import promote_by_hand, rollback
from phoenix_tui.headless import HumanPrinter, JsonPrinter


def run_promote(
    settings: Settings,
    env: Mapping[str, str],
    *,
    candidate: str | None,
    back: bool,
    force: bool,
    json_output: bool,
    tee: Callable[[bytes], None] | None,
) -> int:
    """0 promoted (or rolled back), 5 not promoted; errors raise (exit 1, 2 or 3)."""
    if back == (candidate is not None):
        raise ConfigError("phoenix promote", candidate or "", "a CANDIDATE or --rollback")
    state = settings.state_dir
    state.mkdir(parents=True, exist_ok=True)
    lock = ProjectLock(state)
    lock.acquire()  # never swap the model under a running engine's feet
    redactor = Redactor.from_env(env, settings.secrets())
    journal = JournalSink(state / "run.log", redactor=redactor, max_bytes=settings.log_max_bytes)
    printer = (
        JsonPrinter(sys.stdout, redactor=redactor)
        if json_output
        else HumanPrinter(sys.stderr, redactor=redactor, color=False)
    )
    logfile = RotatingFile(state / "train.log", max_bytes=settings.log_max_bytes)

    def emit(event: ev.Event) -> None:
        stamped = dataclasses.replace(event, ts=event.ts or time.time())
        journal.emit(stamped)
        printer.emit(stamped)

    trainlog = TrainLog(logfile, redactor=redactor, on_error=lambda m: emit(ev.Notice(message=m)))
    relay = OutputRelay(trainlog=trainlog, redactor=redactor, tee=None if json_output else tee)
    try:
        if back:
            asyncio.run(rollback(settings, env=env, emit=emit, output=relay))
            return 0
        assert candidate is not None
        path = Path(os.path.normpath(Path(settings.project_dir, candidate)))
        promoted = asyncio.run(
            promote_by_hand(settings, path, force=force, env=env, emit=emit, output=relay)
        )
        return int(ExitCode.COMPLETED if promoted else ExitCode.NOT_PROMOTED)
    finally:
        logfile.close()
        journal.close()
        lock.release()
