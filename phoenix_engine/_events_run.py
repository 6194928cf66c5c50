"""Events of the run's life: start, exit, hang, failure, restart, the end, notices, remote.

The training process as the supervisor sees it (started, exited, silent, failed, restarted)
and the run as a whole (started, completed, gave up, stopped), plus the notices, output
lines and remote commands that travel with it. Re-exported by :mod:`phoenix_engine.events`.
"""

from __future__ import annotations

__all__ = [
    "Failure",
    "GaveUp",
    "HangDetected",
    "Notice",
    "NotifyFailed",
    "OrphanReaped",
    "OutputLines",
    "ProcessExited",
    "ProcessStarted",
    "RemoteCommand",
    "Restarting",
    "RunCompleted",
    "RunStarted",
    "Stopped",
]

from dataclasses import dataclass
from typing import ClassVar

from phoenix_engine._event_base import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    name: ClassVar[str] = "run_started"
    command: str
    project: str
    mode: str
    phoenix_pid: int
    restarts_used: int = 0
    # Names this run in ``phoenix runs``/``review``; the run's final event (run_completed,
    # gave_up, stopped) repeats it. A last run with neither end nor engine: Phoenix crashed.
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStarted(Event):
    name: ClassVar[str] = "process_started"
    pid: int
    command: str
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessExited(Event):
    name: ClassVar[str] = "process_exited"
    pid: int
    returncode: int | None
    signal: str | None
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HangDetected(Event):
    name: ClassVar[str] = "hang_detected"
    pid: int
    silent_s: float
    last_line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure(Event):
    name: ClassVar[str] = "failure"
    kind: str
    signature: str
    summary: str
    exc_type: str = ""
    location: str = ""
    repairable: bool = True
    action: str = "repair"  # repair, restart, resume_previous, debug_rerun, wait, stop
    advice: str = ""  # one sentence for the owner: what happened, what to do


@dataclass(frozen=True, slots=True, kw_only=True)
class OrphanReaped(Event):
    name: ClassVar[str] = "orphan_reaped"
    pid: int
    command: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Restarting(Event):
    name: ClassVar[str] = "restarting"
    attempt: int
    max_attempts: int
    restarts_used: int
    max_restarts: int
    cooldown_s: float
    reason: str
    checkpoint: str | None = None
    action: str = ""  # the failure's action that led here ('' for a guard)
    budget: str = ""  # each budget rule with its numbers


@dataclass(frozen=True, slots=True, kw_only=True)
class GaveUp(Event):
    name: ClassVar[str] = "gave_up"
    reason: str
    signature: str = ""
    rule: str = ""  # the rule that decided: a setting's name or "class KIND: stop"
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted(Event):
    name: ClassVar[str] = "run_completed"
    duration_s: float
    restarts: int
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopped(Event):
    name: ClassVar[str] = "stopped"
    reason: str
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(Event):
    """Something the user should know that is neither a failure nor a decision."""

    name: ClassVar[str] = "notice"
    message: str
    heartbeat_s: float | None = None  # a new hang limit in force, in seconds
    heartbeat_from: str = ""  # where that limit comes from


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputLines(Event):
    """Complete lines of training output (``\\r`` already applied), batched per read."""

    name: ClassVar[str] = "output"
    journal: ClassVar[bool] = False
    stream: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyFailed(Event):
    name: ClassVar[str] = "notify_failed"
    channel: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteCommand(Event):
    name: ClassVar[str] = "remote_command"
    user_id: str
    command: str
    allowed: bool
    reply: str = ""
