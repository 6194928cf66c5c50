"""The remote commands acting on a real run: an Engine, its ApprovalDesk and a RunView.

:class:`EngineController` implements :class:`~phoenix_engine.remote.discord_poll.Controller`.
It refuses
what would be unsafe from a phone: a rollback while the training runs (stop first), a resume of
a run that is not stopped. :func:`doctor_lines` says what ``phoenix doctor`` should report
about the Discord settings, including how to find a user ID and enable the content intent.
"""

from __future__ import annotations

__all__ = ["EngineController", "doctor_lines"]

import time
from collections.abc import Callable
from typing import Protocol

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.run_state import Phase, RunView
from phoenix_engine.core.settings import SPECS, Settings, shown_value
from phoenix_engine.io.backups import BackupError, list_backups, rollback
from phoenix_engine.io.output import OutputTail

_REPLY_CHARS = 1900  # Discord's 2,000 less room for a code fence
_KEY_SETTINGS = ("train_cmd", "primary", "patch_mode", "approval", "max_retries", "max_restarts")
_HOW_TO_ID = (
    "commands are refused until PHOENIX_DISCORD_ALLOWED_USERS lists your user ID (Discord: "
    "Settings > Advanced > Developer Mode, then right-click your name > Copy User ID)"
)


class EngineLike(Protocol):
    """What the controller needs of :class:`~phoenix_engine.engine.Engine`."""

    settings: Settings
    redactor: Redactor
    tail: OutputTail

    def emit(self, event: ev.Event) -> None: ...
    def request_stop(self, reason: str, *, force: bool = False) -> None: ...


class EngineController:
    """Commands from Discord, answered from the engine's state; each returns the reply.

    ``stop`` (default ``engine.request_stop``) and ``resume`` are injected so a front end that
    keeps Phoenix waiting after a remote stop passes ``lambda r: engine.request_stop(r,
    leave=False)`` and ``engine.resume``.
    """

    def __init__(
        self,
        *,
        engine: EngineLike,
        view: RunView,
        desk: ApprovalDesk | None = None,
        stop: Callable[[str], None] | None = None,
        resume: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine, self._view, self._desk = engine, view, desk
        self._stop = stop or engine.request_stop
        self._resume, self._clock = resume, clock
        self._resumed_in: int | None = None  # view.runs when a resume was granted

    def status(self) -> str:
        return self._view.summary(now=self._clock())

    def stop(self, by: str) -> str:
        if self._view.final:
            return f"nothing to stop: the run is {self._view.phase}"
        self._stop(f"!stop from Discord user {by}")
        grace = self._engine.settings.kill_grace_sec
        return f"stopping: the training gets SIGINT and {grace:g}s to checkpoint; !resume restarts"

    def resume(self, by: str) -> str:
        if self._resume is None:
            return "!resume is not available in this front end"
        if self._view.phase not in (Phase.STOPPED, Phase.GAVE_UP):
            return f"nothing to resume: the run is {self._view.phase}"
        if self._resumed_in == self._view.runs:
            return "already resuming: the training is about to start"
        if not self._resume(by):
            return "could not resume: this Phoenix is not waiting for a resume (it is leaving)"
        self._resumed_in = self._view.runs
        return f"resuming at the request of {by}: the training starts again"

    def patches(self) -> str:
        lines = []
        for p in self._desk.pending if self._desk is not None else []:
            lines.append(f"waiting: {p.id} from {p.provider}: {', '.join(p.paths)}")
        if lines:
            lines.append("answer with !accept ID or !reject ID")
        for r in list_backups(self._engine.settings.state_dir)[:5]:
            lines.append(f"backup {r.id} ({r.state}, {r.kind}): {', '.join(r.paths) or '-'}")
        return "\n".join(lines) or "no patch waits for approval and there are no backups"

    def accept(self, patch_id: str, by: str) -> str:
        if self._desk is None or not self._desk.accept(patch_id, by=f"discord:{by}"):
            return self._not_waiting(patch_id)
        return f"accepted patch {patch_id}: Phoenix backs up, applies it and restarts"

    def reject(self, patch_id: str, by: str) -> str:
        reason = f"rejected from Discord by {by}"
        if self._desk is None or not self._desk.reject(patch_id, by=f"discord:{by}", reason=reason):
            return self._not_waiting(patch_id)
        return f"rejected patch {patch_id}"

    def _not_waiting(self, patch_id: str) -> str:
        waiting = [p.id for p in self._desk.pending] if self._desk is not None else []
        return f"no patch {patch_id!r} waits for approval" + (
            f" (waiting: {', '.join(waiting)})" if waiting else ""
        )

    def rollback(self, backup_id: str, by: str) -> str:
        # Until the resumed run announces itself the view still says "stopped": not safe.
        if not self._view.final or self._resumed_in == self._view.runs:
            return (
                f"refused: the training is {self._view.phase}; "
                "send !stop, then !rollback ID, then !resume"
            )
        s = self._engine.settings
        try:
            result = rollback(s.state_dir, s.project_dir, backup_id, clock=self._clock)
        except BackupError as exc:
            return f"rollback refused: {exc}"
        self._engine.emit(
            ev.RolledBack(
                backup_id=result.backup_id,
                paths=result.paths,
                safety_backup_id=result.safety_backup_id,
            )
        )
        return (
            f"rolled back {result.backup_id} for {by}: restored {', '.join(result.paths)}; "
            f"undo with !rollback {result.safety_backup_id}"
        )

    def tail(self, n: int) -> str:
        lines = [self._engine.redactor.redact(line) for line in self._engine.tail.lines(n)]
        kept: list[str] = []
        used = 0
        for line in reversed(lines):
            line = line if len(line) <= 300 else line[:299] + "…"
            if used + len(line) + 1 > _REPLY_CHARS - 10:
                break
            kept.append(line.replace("```", "`\u200b``"))
            used += len(line) + 1
        return "```\n" + "\n".join(reversed(kept)) + "\n```" if kept else "no output yet"

    def config(self) -> str:
        s = self._engine.settings
        lines = [
            f"{spec.env}={shown_value(s, spec.field)}"
            for spec in SPECS
            if spec.field in _KEY_SETTINGS or s.sources.get(spec.field, "default") != "default"
        ]
        text = self._engine.redactor.redact("\n".join(lines))
        return text[:_REPLY_CHARS] + "\n(all settings: phoenix doctor)"


def doctor_lines(settings: Settings) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) rows about Discord for ``phoenix doctor``."""
    s = settings
    webhook = "set: milestones are posted" if s.discord_webhook_url else "not set: no notifications"
    rows = [("discord notifications", True, webhook + " (PHOENIX_DISCORD_WEBHOOK_URL)")]
    token, channel = bool(s.discord_bot_token), bool(s.discord_channel_id)
    if token != channel:
        missing = "PHOENIX_DISCORD_CHANNEL_ID" if token else "PHOENIX_DISCORD_BOT_TOKEN"
        rows.append(("discord remote control", False, f"off: {missing} is not set"))
        return rows
    if not token:
        rows.append(("discord remote control", True, "off (PHOENIX_DISCORD_BOT_TOKEN)"))
        return rows
    every = f"polls channel {s.discord_channel_id} every {s.discord_poll_sec:g}s"
    rows.append(("discord remote control", True, every))
    users = s.discord_allowed_users
    if users:
        rows.append(("discord allowed users", True, f"{len(users)} user(s) may command"))
    else:
        rows.append(("discord allowed users", False, _HOW_TO_ID))
    hint = (
        "if commands go unanswered, enable the Message Content Intent (Discord Developer "
        "Portal > your application > Bot > Privileged Gateway Intents), or mention the bot: "
        "@Phoenix !status"
    )
    rows.append(("discord message content", True, hint))
    return rows
