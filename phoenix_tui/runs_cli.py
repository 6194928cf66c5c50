"""The morning after, on the command line: ``phoenix status`` (no engine), ``runs``,
``review`` and ``report``, and the lines a front end prints about the last run.

Everything here reads the journal and metrics.jsonl through :mod:`phoenix_engine.io.recorded`
(folded by :mod:`phoenix_engine.core.history`); nothing changes a file except ``review``'s
rollback (under the project lock, journaled).
"""

from __future__ import annotations

__all__ = [
    "announce_last_run",
    "cmd_report",
    "cmd_review",
    "cmd_runs",
    "pick_run",
    "print_summary",
    "status_from_journal",
    "status_json_running",
]

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import psutil

from phoenix_engine.core.history import PastRun, as_dict, one_line, summary_lines
from phoenix_engine.core.run_state import duration
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ConfigError, ExitCode
from phoenix_engine.io.recorded import load_runs


def _runs(settings: Settings, *, engine_running: bool | None = None) -> list[PastRun]:
    """The journal's runs; the last without an end is "running" while a Phoenix holds the
    project (one starting up may not answer on its socket yet), else "crashed"."""
    state = settings.state_dir
    if not state.is_dir():
        return []
    if engine_running is None:
        engine_running = _held(state)
    return load_runs(state, engine_running=engine_running)


def _held(state: Path) -> bool:
    """Whether a live Phoenix owns the project's lock, read from its owner file: probing the
    lock itself would hold it for an instant and could turn a Phoenix starting right then
    away (exit 3)."""
    from phoenix_engine.io.lock import ProjectLock

    pid = ProjectLock(state).holder().get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        return psutil.pid_exists(pid)
    except (OSError, psutil.Error):
        return False


def pick_run(runs: list[PastRun], wanted: str | None) -> PastRun:
    """The run named by its id (or a unique start of it); the newest without a name."""
    if not runs:
        raise ConfigError("RUN", wanted or "", "a run recorded in the journal (none is yet)")
    if not wanted:
        return runs[-1]
    exact = [r for r in runs if r.run_id == wanted]
    found = exact or [r for r in runs if r.run_id.startswith(wanted)]
    if len(found) != 1:
        return _no_such_run(runs, wanted, len(found))
    return found[0]


def _no_such_run(runs: list[PastRun], wanted: str, matches: int) -> PastRun:
    known = ", ".join(r.run_id for r in runs[-5:])
    what = "matches several runs" if matches else "is not a run"
    raise ConfigError("RUN", wanted, f"a run id from `phoenix runs` ({wanted} {what}; {known})")


def status_from_journal(settings: Settings, *, json_output: bool, why: str, model: str = "") -> int:
    """No engine answered: say how the last run ended (and which model is in service); exit
    1 as documented."""
    runs = _runs(settings)
    if json_output:
        row = as_dict(runs[-1]) if runs else None
        print(json.dumps({"running": False, "why": why, "last_run": row, "model": model}))
        return int(ExitCode.GAVE_UP)
    print(f"phoenix: no engine runs in {settings.project_dir} ({why})", file=sys.stderr)
    if not runs:
        print("phoenix: the journal records no run yet", file=sys.stderr)
    else:
        print("\n".join(summary_lines(runs[-1])))
    if model:
        print(model)
    return int(ExitCode.GAVE_UP)


def status_json_running(settings: Settings, text: str, *, model: str = "") -> str:
    """``phoenix status --json`` while an engine answers: its words and the journal's fold."""
    runs = _runs(settings, engine_running=True)
    run = as_dict(runs[-1]) if runs else None
    return json.dumps({"running": True, "status": text, "run": run, "model": model})


def cmd_runs(settings: Settings, *, json_output: bool) -> int:
    runs = _runs(settings)
    if json_output:
        for run in runs:
            print(json.dumps(as_dict(run)))
        return 0
    if not runs:
        print("phoenix: the journal records no run yet")
        return 0
    print(f"{'run':<18} {'started':<19} {'ended':<19} {'outcome':<10} {'took':>7}  repairs")
    for run in runs:
        ended = _local(run.ended_at) if run.ended_at is not None else "-"
        took = duration(run.duration_s) if run.duration_s is not None else "-"
        repairs = ", ".join(a.id[:8] for a in run.view.applied) or "-"
        print(
            f"{run.run_id:<18} {_local(run.started_at):<19} {ended:<19} "
            f"{run.outcome:<10} {took:>7}  {repairs}"
        )
    return 0


def _local(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def cmd_report(
    settings: Settings,
    wanted: str | None,
    out: str | None,
    *,
    svg: bool,
    stream: IO[str] | None = None,
) -> int:
    from phoenix_engine.io.recorded import read_metrics
    from phoenix_engine.io.report import render

    run = pick_run(_runs(settings), wanted)
    fmt = "svg" if svg or (out or "").endswith(".svg") else "png"
    data = render(
        run,
        read_metrics(settings.state_dir, run.started_at, run.ended_at),
        fmt=fmt,
        title=settings.project_dir.name,
    )
    target = Path(out) if out else settings.state_dir / f"report-{run.run_id}.{fmt}"
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ConfigError("-o", str(target), f"a file Phoenix may write ({exc.strerror})") from exc
    print(f"phoenix: the picture of run {run.run_id} is in {target}", file=stream or sys.stdout)
    return 0


def cmd_review(settings: Settings, wanted: str | None, env: Mapping[str, str]) -> int:
    from phoenix_tui.console.replay import run_review

    runs = _runs(settings)
    return run_review(settings, runs, pick_run(runs, wanted), env)


def announce_last_run(settings: Settings, stream: IO[str] | None = None) -> None:
    """Before a bare ``phoenix`` starts a new run: one line on how the last one ended."""
    try:
        runs = _runs(settings)
        if runs and runs[-1].outcome != "running":
            _say(f"phoenix: {one_line(runs[-1])}", stream)
    except Exception as exc:  # a journal Phoenix cannot read must not stop the next run
        _say(f"phoenix: cannot tell how the last run ended: {exc!r}", stream)


def print_summary(settings: Settings, stream: IO[str] | None = None) -> None:
    """When the console quits or headless ends: how this run ended, in a few lines."""
    try:
        runs = _runs(settings)
        if runs:
            head, *rest = summary_lines(runs[-1])
            _say("\n".join([f"phoenix: {head}", *rest]), stream)
    except Exception as exc:  # the run is over: its exit code must still come out
        _say(f"phoenix: no summary: cannot read the journal: {exc!r}", stream)


def _say(line: str, stream: IO[str] | None) -> None:
    try:
        print(line, file=stream or sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # the terminal may have hung up
