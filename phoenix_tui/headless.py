"""The headless front end: one concise human line per milestone on stderr, or JSON lines.

Humans get ``HH:MM:SS phoenix: ...`` lines (coloured on a terminal unless ``NO_COLOR``);
``--json`` prints the journal's records on stdout instead, one per event.
"""

from __future__ import annotations

__all__ = ["HumanPrinter", "JsonPrinter", "describe"]

import json
import time
from collections.abc import Callable
from typing import IO

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.run_state import duration
from phoenix_engine.io.journal import event_record

_RED, _GREEN, _YELLOW, _DIM, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[2m", "\x1b[0m"


def _exited(e: ev.ProcessExited) -> str:
    how = f"died of {e.signal}" if e.signal else f"exited with code {e.returncode}"
    return f"training {how} after {duration(e.duration_s)}"


def _restarting(e: ev.Restarting) -> str:
    where = f" from {e.checkpoint}" if e.checkpoint else ""
    budget = f"attempt {e.attempt}/{e.max_attempts} for this failure, " if e.max_attempts else ""
    rules = f" [{e.budget}]" if e.budget else ""
    return (
        f"restarting{where} in {e.cooldown_s:g}s ({budget}"
        f"restart {e.restarts_used}/{e.max_restarts}): {e.reason}{rules}"
    )


def _failure(e: ev.Failure) -> str:
    line = f"failure [{e.kind}] {e.summary} (signature {e.signature})"
    if e.action == "repair" and not e.advice:  # a bug in the code: the repair steps follow
        return line
    return f"{line} -> {e.action}" + (f": {e.advice}" if e.advice else "")


def _data_changed(e: ev.DataChanged) -> str:
    parts = [
        f"{len(names)} {what} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
        for what, names in (
            ("missing", e.missing),
            ("changed", e.changed),
            ("truncated", e.truncated),
            ("new", e.added),
        )
        if names
    ]
    return "data directory differs from its manifest: " + "; ".join(parts)


def _progress(e: ev.Progress) -> str:
    rate = f", {e.rate:.2f} steps/s" if e.rate else ""
    eta = f", ETA {duration(e.eta_s)}" if e.eta_s is not None else ""
    return f"step {e.step}, loss {e.loss}{rate}{eta}"


_FORMATS: dict[type[ev.Event], Callable[[ev.Event], tuple[str, str]]] = {}


def _fmt(kind: type[ev.Event], colour: str = "") -> Callable[[Callable[..., str]], None]:
    def register(fn: Callable[..., str]) -> None:
        _FORMATS[kind] = lambda e: (colour, fn(e))

    return register


_fmt(ev.RunStarted)(
    lambda e: f"supervising `{e.command}` in {e.project} (mode {e.mode}, pid {e.phoenix_pid})"
)
_fmt(ev.ProcessStarted)(lambda e: f"training started (pid {e.pid}, attempt {e.attempt})")
_fmt(ev.ProcessExited)(_exited)
_fmt(ev.HangDetected, _YELLOW)(
    lambda e: f"no output for {duration(e.silent_s)}: treating it as a hang; stopping it"
)
_fmt(ev.Failure, _RED)(_failure)
_fmt(ev.OrphanReaped, _YELLOW)(
    lambda e: f"stopped PID {e.pid} left running by an earlier phoenix ({e.command})"
)
_fmt(ev.Restarting, _YELLOW)(_restarting)
_fmt(ev.GaveUp, _RED)(
    lambda e: f"gave up ({e.rule}): {e.reason}" if e.rule else f"gave up: {e.reason}"
)
_fmt(ev.RunCompleted, _GREEN)(
    lambda e: f"training completed in {duration(e.duration_s)} ({e.restarts} restart(s))"
)
_fmt(ev.Stopped, _YELLOW)(lambda e: f"stopped: {e.reason}")
_fmt(ev.Notice, _YELLOW)(lambda e: f"note: {e.message}")
_fmt(ev.GuardTripped, _RED)(
    lambda e: f"guard {e.guard} tripped: {e.reading:g} beyond {e.limit:g}; stopping the training"
)
_fmt(ev.GuardCleared, _GREEN)(lambda e: f"guard {e.guard} cleared: {e.reading:g}")
_fmt(ev.Anomaly, _YELLOW)(lambda e: f"{e.kind}: {e.detail}")
_fmt(ev.Progress)(_progress)
_fmt(ev.DataChanged, _YELLOW)(_data_changed)
_fmt(ev.NotifyFailed, _YELLOW)(lambda e: f"{e.channel} notification failed: {e.reason}")
_fmt(ev.RemoteCommand)(
    lambda e: (
        f"Discord command {e.command!r} from user {e.user_id}: "
        f"{'accepted' if e.allowed else 'refused'}"
    )
)
_fmt(ev.RepairRequested)(
    lambda e: f"asking for a repair (attempt {e.attempt}; providers: {', '.join(e.providers)})"
)
_fmt(ev.ProviderFailed, _YELLOW)(lambda e: f"provider {e.provider} failed: {e.reason}")
_fmt(ev.Diagnosis)(lambda e: f"diagnosis from {e.provider}: {e.text}")
_fmt(ev.PatchProposed)(
    lambda e: f"patch {e.id} proposed by {e.provider} for {', '.join(e.paths) or '(no file)'}"
)
_fmt(ev.PatchRejected, _RED)(lambda e: f"patch {e.id} rejected: {e.reason}")
_fmt(ev.ShadowPassed, _GREEN)(
    lambda e: f"patch {e.id} passed the shadow run" + (f" ({e.note})" if e.note else "")
)
_fmt(ev.ShadowFailed, _RED)(
    lambda e: f"patch {e.id} failed the shadow run: {e.reason}" + (f" ({e.note})" if e.note else "")
)
_fmt(ev.ContainmentBreach, _RED)(
    lambda e: (
        f"CONTAINMENT BREACH: the shadow run of patch {e.id} changed real files "
        f"({', '.join(e.paths[:5])}{', ...' if len(e.paths) > 5 else ''}); patch refused"
        + ("" if e.sandboxed else " (no sandbox)")
    )
)
_fmt(ev.ApprovalRequested)(lambda e: f"patch {e.id} awaits approval")
_fmt(ev.PatchApplied, _GREEN)(
    lambda e: (
        f"patch {e.id} {'backed up (dry run: nothing written)' if e.dry_run else 'applied'}"
        f" to {', '.join(e.paths)} (backup {e.backup_id}"
        f"{', approved by ' + e.approved_by if e.approved_by else ''})"
    )
)
_fmt(ev.RolledBack, _GREEN)(
    lambda e: f"rolled back backup {e.backup_id}: restored {', '.join(e.paths) or 'nothing'}"
)

_fmt(ev.EvaluationStarted)(lambda e: f"evaluating {e.candidate}: `{e.command}`")
_fmt(ev.EvaluationFinished)(
    lambda e: f"evaluation {'passed' if e.passed else 'failed'} for {e.candidate}: {e.reason}"
)
_fmt(ev.ModelPromoted, _GREEN)(
    lambda e: (
        f"{e.path} rolled back to {e.target} (from {e.candidate}; was {e.previous})"
        if e.by == "rollback"
        else f"{e.path} now serves {e.candidate} (copy {e.target}; was {e.previous or 'nothing'})"
    )
)
_fmt(ev.PromotionSkipped, _YELLOW)(
    lambda e: f"not promoted: {e.reason}; in service: {e.in_service or 'nothing'}"
)


def describe(event: ev.Event) -> tuple[str, str] | None:
    """(colour, text) for a milestone, None for events a human line would only clutter."""
    fmt = _FORMATS.get(type(event))
    return fmt(event) if fmt is not None else None


class HumanPrinter:
    """Milestones as ``HH:MM:SS phoenix: text`` lines."""

    def __init__(self, stream: IO[str], *, redactor: Redactor, color: bool) -> None:
        self._stream = stream
        self._redactor = redactor
        self._color = color

    def emit(self, event: ev.Event) -> None:
        described = describe(event)
        if described is None:
            return
        colour, text = described
        stamp = time.strftime("%H:%M:%S", time.localtime(event.ts or time.time()))
        text = self._redactor.redact(text.replace("\n", " "))
        line = f"{stamp} phoenix: {text}"
        if self._color and colour:
            line = f"{colour}{line}{_RESET}"
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed terminal must not stop the supervision


class JsonPrinter:
    """The journal's records on stdout, one JSON object per line."""

    def __init__(self, stream: IO[str], *, redactor: Redactor) -> None:
        self._stream = stream
        self._redactor = redactor

    def emit(self, event: ev.Event) -> None:
        if not event.journal:
            return
        try:
            self._stream.write(json.dumps(event_record(event, self._redactor)) + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass
