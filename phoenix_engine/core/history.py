"""Past runs, folded from the journal: what ``phoenix status``, ``runs``, ``review`` and the
summaries say about a run that has ended.

A run is what lies between one ``run_started`` and the next; it ended with its last final
event (``run_completed``, ``gave_up``, ``stopped``, which carry its ``run_id``): a resume after
a give-up stays one run, and what is journaled after it (a ``phoenix rollback``) stays with
it. A run with no end and no engine holding the project saw Phoenix itself crash. Each run's
events are folded with :class:`~phoenix_engine.core.run_state.RunView`, the one reducer; the last
training metrics come from metrics.jsonl (they are not journaled). Pure: reading the two
files is :func:`phoenix_engine.io.recorded.load_runs`'s.
"""

from __future__ import annotations

__all__ = [
    "PastRun",
    "advice",
    "as_dict",
    "one_line",
    "outcome_of",
    "repair_rows",
    "split_runs",
    "summary_lines",
]

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.core.run_state import Phase, RunView, duration
from phoenix_engine.core.run_summary import iso_utc

LOG_FILES = ("run.log", "train.log", "metrics.jsonl")


@dataclass(slots=True, kw_only=True)
class PastRun:
    """One run's events and their fold; ``outcome`` in the words of ``phoenix runs``."""

    run_id: str
    events: list[ev.Event]
    view: RunView
    outcome: str = ""
    ended_at: float | None = None
    state_dir: Path | None = None

    @property
    def started_at(self) -> float:
        return self.events[0].ts

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


def split_runs(events: list[ev.Event], *, engine_running: bool = False) -> list[PastRun]:
    """The journal's runs, oldest first; events before the first start are left out."""
    runs: list[PastRun] = []
    for event in events:
        if isinstance(event, ev.RunStarted):
            run_id = event.run_id or time.strftime("%Y%m%d-%H%M%S", time.gmtime(event.ts))
            runs.append(PastRun(run_id=run_id, events=[], view=RunView()))
        if runs:
            runs[-1].events.append(event)
    seen: dict[str, int] = {}
    for i, run in enumerate(runs):
        for event in run.events:
            run.view.apply(event)
        seen[run.run_id] = seen.get(run.run_id, 0) + 1
        if seen[run.run_id] > 1:  # two starts in one second: keep the ids apart
            run.run_id += f".{seen[run.run_id]}"
        last = i == len(runs) - 1
        run.outcome = outcome_of(run.view, running=last and engine_running)
        run.ended_at = run.view.ended_at
    return runs


def outcome_of(view: RunView, *, running: bool = False) -> str:
    """completed, gave up, guard (gave up because a guard held), stopped, running, crashed."""
    if view.phase is Phase.GAVE_UP and (view.guards or view.final_reason.startswith("a guard")):
        return "guard"
    if view.final:
        return str(view.phase)
    return "running" if running else "crashed"


def advice(run: PastRun) -> str:
    """What the owner can do next, for a run that did not complete."""
    view, outcome = run.view, run.outcome
    failure = view.failure
    if outcome == "crashed":
        return (
            "Phoenix itself ended without a word (killed, out of memory, a reboot?); "
            "`phoenix` starts supervising again"
        )
    if outcome == "guard":
        return "check the GPU's cooling and power (or free disk), then run `phoenix` again"
    if outcome != "gave up":
        return ""
    if failure is not None and failure.kind == "launch":
        return "the training command could not start: check it with `phoenix doctor`"
    if failure is not None and not failure.repairable:
        return f"a {failure.kind} failure is not something a code patch fixes: see train.log"
    return (
        "read the failure in train.log, fix it (or `phoenix rollback` a patch), then "
        "`phoenix reset` clears the budgets and `phoenix` runs again"
    )


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def repair_rows(run: PastRun) -> list[dict[str, Any]]:
    rows = []
    for applied, proposal in run.view.repairs():
        why = " ".join((proposal.diagnosis if proposal is not None else "").split())
        first = why.split(". ")[0].rstrip(".")  # the diagnosis's first sentence
        summary = (first if len(first) <= 100 else first[:99] + "…") or "edited "
        summary += f" ({', '.join(applied.paths)})" if applied.paths else ""
        rows.append(
            {"id": applied.id, "summary": summary, "paths": list(applied.paths)}
            | {"backup_id": applied.backup_id, "dry_run": applied.dry_run}
        )
    return rows


def as_dict(run: PastRun) -> dict[str, Any]:
    """The run as ``phoenix status --json`` prints it (one object)."""
    view = run.view
    failure = view.failure
    return {
        "run_id": run.run_id,
        "outcome": run.outcome,
        "started": iso_utc(run.started_at),
        "ended": iso_utc(run.ended_at) if run.ended_at is not None else None,
        "last_event": iso_utc(run.events[-1].ts),
        "duration_s": round(run.duration_s, 1) if run.duration_s is not None else None,
        "restarts": view.restarts,
        "repairs": repair_rows(run),
        "step": view.step,
        "total_steps": view.total,
        "loss": _json_loss(view.loss),
        "reason": view.final_reason,
        "failure": None if failure is None else f"{failure.kind}: {failure.summary}",
        "advice": advice(run),
        "logs": [str(run.state_dir / name) for name in LOG_FILES] if run.state_dir else [],
    }


def _json_loss(loss: float | str | None) -> float | str | None:
    if isinstance(loss, float) and not math.isfinite(loss):
        return str(loss)  # "nan": strict JSON has no NaN
    return loss


def summary_lines(run: PastRun) -> list[str]:
    """A few lines on how a run ended: ``phoenix status``, and when a front end exits."""
    d = as_dict(run)
    took = f" after {duration(run.duration_s)}" if run.duration_s is not None else ""
    ended = f", {_when(run.ended_at)}{took}" if run.ended_at is not None else ""
    lines = [f"last run {run.run_id}: {run.outcome}{ended} (started {_when(run.started_at)})"]
    if run.outcome == "crashed":
        lines.append(f"  last heard of: {_when(run.events[-1].ts)} ({run.events[-1].name})")
    if d["reason"]:
        lines.append(f"  reason:   {d['reason']}")
    if d["failure"] and run.outcome != "completed":
        lines.append(f"  failure:  {d['failure']}")
    if d["advice"]:
        lines.append(f"  advice:   {d['advice']}")
    lines.append(f"  restarts: {d['restarts']}, repairs: {len(d['repairs'])}")
    for row in d["repairs"]:
        dry = " (dry run)" if row["dry_run"] else ""
        lines.append(f"    {row['id'][:8]}  {row['summary']}{dry}")
    seen = run.view.step is not None or run.view.loss is not None
    lines.append(f"  training: {run.view.training_line() if seen else 'no step or loss recorded'}")
    if run.state_dir is not None:
        lines.append(f"  logs:     {run.state_dir}/ ({', '.join(LOG_FILES)})")
    return lines


def one_line(run: PastRun) -> str:
    """How the last run ended, on one line (a bare ``phoenix`` says it before it starts)."""
    when = _when(run.ended_at or run.started_at)
    loss = f", last loss {run.view.loss_text()}" if run.view.loss is not None else ""
    repairs = len(run.view.applied)
    return (
        f"last run {run.run_id} {run.outcome} ({when}; {run.view.restarts} restart(s), "
        f"{repairs} repair(s){loss}); `phoenix status` tells more"
    )
